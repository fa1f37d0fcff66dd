//! Natural batching of concurrent calls on one key (group, filter): a call that finds a
//! statement for its key in flight waits for it, and what queued meanwhile is sent as one
//! lean statement counting the sum.

use std::collections::HashMap;
use std::sync::Mutex;

use super::increment::Target;
use super::PgStore;
use crate::error::{Error, Result};
use crate::model::Picked;
use crate::store::Increment;

/// Natural batching of calls on one key: a call that finds a statement for the same (group,
/// filters) in flight waits for it instead of queueing on the row lock; when that statement
/// is done, everything that queued meanwhile is sent as one lean statement counting the sum.
/// No timers: a call alone is sent at once. A batch is all-or-nothing: if the sum is not
/// granted without a budget event, every call in it is decided alone (lean, then full
/// statement), as without coalescing — so exactness, failover order and exactly-once events
/// are unchanged.
#[derive(Default)]
pub(super) struct Coalescer {
    waiting: Mutex<HashMap<BatchKey, Vec<Waiter>>>,
}

pub(super) type BatchKey = (i64, String, Vec<i64>);

struct Waiter {
    amount: f64,
    reply: tokio::sync::oneshot::Sender<Answer>,
}

/// What a queued call learns from the statement its batch was sent in.
enum Answer {
    /// The batch was granted on this key (its share counted).
    Granted(Picked),
    /// The batch statement failed; the error applies to every call in it.
    Failed(Error),
    /// Not granted as a batch: decide alone (lean, then the full statement).
    Alone,
    /// Queued behind a batch: join the next round (one of these calls leads it).
    Again,
}

/// Frees a key if its leader stops before handing on (the queued calls then decide alone).
struct Lead<'a> {
    coalescer: &'a Coalescer,
    key: &'a BatchKey,
}

impl Lead<'_> {
    /// Free the key and return the calls still queued on it.
    fn finish(self) -> Vec<Waiter> {
        let rest = self.release();
        std::mem::forget(self);
        rest
    }
    fn release(&self) -> Vec<Waiter> {
        let mut waiting = self
            .coalescer
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        waiting.remove(self.key).unwrap_or_default()
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        // Dropping the queued senders wakes their calls with "decide alone".
        drop(self.release());
    }
}

/// The calls queued on `key` so far (the key stays marked as in flight).
fn take_queue(coalescer: &Coalescer, key: &BatchKey) -> Vec<Waiter> {
    let mut waiting = coalescer.waiting.lock().unwrap_or_else(|p| p.into_inner());
    waiting.get_mut(key).map(std::mem::take).unwrap_or_default()
}

impl PgStore {
    /// Send queued calls as one lean statement counting their sum, and answer each.
    async fn send_batch(&self, target: &Target, batch: Vec<Waiter>) {
        let Some(hint) = self.hint(target).filter(|_| batch.len() > 1) else {
            // One call, or no hint yet: each decides alone, with its events if any.
            for w in batch {
                let _ = w.reply.send(Answer::Alone);
            }
            return;
        };
        let sum: f64 = batch.iter().map(|w| w.amount).sum();
        let outcome = self.lean(target, target.lean_call(hint, sum)).await;
        for w in batch {
            let answer = match &outcome {
                Ok(Some(picked)) => Answer::Granted(picked.clone()),
                Ok(None) => Answer::Alone,
                Err(e) => Answer::Failed(e.clone()),
            };
            let _ = w.reply.send(answer);
        }
    }

    /// An increment on a store that coalesces: join the calls queued on the target's key, or
    /// lead them.
    pub(super) async fn increment_coalesced(
        &self,
        coalescer: &Coalescer,
        target: &Target,
        amount: f64,
    ) -> Result<Increment> {
        let key = &target.key;
        loop {
            // Either join the queue behind a statement in flight on this key, or lead.
            let queued = {
                let mut waiting = coalescer.waiting.lock().unwrap_or_else(|p| p.into_inner());
                match waiting.get_mut(key) {
                    Some(queue) => {
                        let (reply, answer) = tokio::sync::oneshot::channel();
                        queue.push(Waiter { amount, reply });
                        Some(answer)
                    }
                    None => {
                        waiting.insert(key.clone(), Vec::new());
                        None
                    }
                }
            };
            if let Some(answer) = queued {
                return match answer.await {
                    Ok(Answer::Granted(picked)) => Ok(Increment {
                        picked: Some(picked),
                        events: Vec::new(),
                        replayed: false,
                    }),
                    Ok(Answer::Failed(e)) => Err(e),
                    Ok(Answer::Again) => continue,
                    Ok(Answer::Alone) | Err(_) => self.increment_alone(target, amount).await,
                };
            }
            // Lead: this call's own statement, then one batch of the calls that queued meanwhile;
            // calls that queued behind that batch start the next round (bounded extra latency).
            let lead = Lead { coalescer, key };
            let own = self.increment_alone(target, amount).await;
            let batch = take_queue(coalescer, key);
            if !batch.is_empty() {
                self.send_batch(target, batch).await;
            }
            for w in lead.finish() {
                let _ = w.reply.send(Answer::Again);
            }
            return own;
        }
    }
}
