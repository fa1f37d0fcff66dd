//! How an async method's future runs: its first poll happens on the JS thread, inside the
//! runtime's context, and it moves to the runtime only when it waits.
//!
//! Spawning the future from the JS thread costs a cross-thread hand-off before any work starts
//! (the runtime's worker is woken to poll it), and a second one when its promise is settled.
//! The first is not needed: the first poll writes the statement to the database's socket right
//! here, registers the socket with the runtime's I/O driver and returns `Pending`; the reply
//! then wakes the worker, which it had to do anyway, and the waker this module hands out
//! spawns the rest of the future there (on the worker's own queue, no further wake-up). A
//! future that completes in its first poll (a bad argument) settles at once.
//!
//! The first poll does only what the future does before its first wait (argument checks, a
//! statement's encoding, a socket write: microseconds, never a blocking call); CPU-heavy work
//! (RSA) runs on the blocking pool as before. A panic in any poll rejects the promise with
//! `PSPAS_INTERNAL` instead of leaving it pending.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use napi::bindgen_prelude::*;
use napi::JsDeferred;

use super::{to_js, CoreResult};
use crate::error::Error as CoreError;

type Settle<T> = Box<dyn FnOnce(Env) -> Result<T> + Send>;
type Call<T> = Pin<Box<dyn Future<Output = CoreResult<T>> + Send>>;

/// One call in flight: its future (until it completes) and its promise's deferred (until
/// settled).
struct Drive<T: ToNapiValue + Send + 'static> {
    fut: Mutex<Option<Call<T>>>,
    deferred: Mutex<Option<JsDeferred<T, Settle<T>>>>,
    /// Set when the rest of the call has been spawned on the runtime.
    handed_over: AtomicBool,
}

impl<T: ToNapiValue + Send + 'static> Drive<T> {
    /// Poll the future once with `cx`; settle the promise when it is done (or panicked).
    fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut slot = self.fut.lock().unwrap_or_else(|p| p.into_inner());
        let Some(fut) = slot.as_mut() else {
            return Poll::Ready(());
        };
        let outcome = match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(outcome)) => outcome,
            Err(_) => Err(CoreError::Internal(
                "an async operation panicked; nothing more is known".into(),
            )),
        };
        *slot = None;
        drop(slot);
        let deferred = self
            .deferred
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(deferred) = deferred {
            match outcome {
                Ok(value) => deferred.resolve(Box::new(move |_| Ok(value))),
                Err(e) => deferred.reject(to_js(e)),
            }
        }
        Poll::Ready(())
    }
}

/// The waker of the first poll: its first wake moves the call onto the runtime, where the
/// task's own waker takes over (later wakes of this one are stale and ignored).
impl<T: ToNapiValue + Send + 'static> Wake for Drive<T> {
    fn wake(self: Arc<Self>) {
        if !self.handed_over.swap(true, Ordering::AcqRel) {
            napi::bindgen_prelude::spawn(async move {
                std::future::poll_fn(|cx| self.poll(cx)).await;
            });
        }
    }
}

/// Run `fut` as described in the module doc and hand back its promise.
pub(crate) fn run<'e, T, F>(env: &'e Env, fut: F) -> Result<PromiseRaw<'e, T>>
where
    T: ToNapiValue + Send + 'static,
    F: Future<Output = CoreResult<T>> + Send + 'static,
{
    let (deferred, promise) = env.create_deferred::<T, Settle<T>>()?;
    // Boxed once, where it is made: the future of a call holds the state of every await below
    // it (kilobytes); moving it around showed in an earlier profile.
    let drive = Arc::new(Drive {
        fut: Mutex::new(Some(Box::pin(fut))),
        deferred: Mutex::new(Some(deferred)),
        handed_over: AtomicBool::new(false),
    });
    let waker = Waker::from(drive.clone());
    napi::bindgen_prelude::within_runtime_if_available(|| {
        let _ = drive.poll(&mut Context::from_waker(&waker));
    });
    Ok(PromiseRaw::new(env.raw(), promise.raw()))
}
