//! RSA key rotation without downtime: rewrap every row's data key (`encrypted_aes_key`) from
//! a previous private key to the current key pair; the API-key ciphertexts
//! (`encrypted_api_key`) are never touched, since the data key inside stays the same.
//!
//! Rotation runs in batches in id order. For each row, off the runtime threads and across the
//! machine's cores: the previous keys are tried first (the common case during a rotation), then
//! the current one (a row already rotated is recognised and skipped; once a row opened with the
//! current key, the next rows try it first, which halves the cost of a re-run after an
//! interruption). A data key opened by a
//! previous key must also open its row's API-key ciphertext (GCM verifies), is wrapped again
//! under the current public key, and that new wrapping must open with the current private key
//! before it is written. The batch is then written in one short transaction with its rows
//! locked, each row only if its `encrypted_aes_key` is still the one that was read (a row
//! changed meanwhile is left for the next run). So a rotation can be stopped at any point
//! (even `kill -9`) and run again: nothing is lost, corrupted or wrapped twice.

use std::sync::atomic::Ordering;

use crate::envelope;
use crate::error::{Error, Result};
pub use crate::keyring::{KeyRing, Opener};
use crate::rsa_keys::RsaPublic;
use crate::secret::AesKey;

/// A row's wrapped data key as read for rotation, binding or verification.
#[derive(Debug, Clone)]
pub struct WrappedKey {
    pub id: i64,
    /// The row's group: a group-bound data key opens only with it.
    pub group_id: i64,
    pub encrypted_api_key: String,
    pub encrypted_aes_key: String,
}

/// A row's new wrapping, written only where `old` is still stored.
#[derive(Debug, Clone)]
pub struct Rewrap {
    pub id: i64,
    pub old: String,
    pub new: String,
}

/// The data key of `row` and which key opened it (`previous_first`: the order tried). The key
/// must also open the row's API-key ciphertext; a ciphertext that is not an envelope, or
/// does not verify, counts as not opened.
fn open_row(ring: &KeyRing, row: &WrappedKey, previous_first: bool) -> (Option<AesKey>, Opener) {
    let Ok(ct) = envelope::parse_encrypted_api_key(&row.encrypted_api_key) else {
        return (None, Opener::Nobody);
    };
    // The plaintext is dropped (zeroized) at once.
    match ring.open(
        &row.encrypted_aes_key,
        Some(row.group_id),
        &ct,
        previous_first,
    ) {
        Ok((aes, _, opener)) => (Some(aes), opener),
        Err(_) => (None, Opener::Nobody),
    }
}

/// Which key opens `row`, the current one tried first (as agents do).
pub fn opener(ring: &KeyRing, row: &WrappedKey) -> Opener {
    open_row(ring, row, false).1
}

/// What rotation does with one row.
#[derive(Debug)]
pub enum Plan {
    Rewrap(Rewrap),
    AlreadyCurrent,
    CannotOpen,
}

/// Plan one row: rewrap it when a previous key opens it (bound to its group if it was), and
/// check that the new wrapping opens with the current key.
pub fn plan_row(ring: &KeyRing, public: &RsaPublic, row: &WrappedKey) -> Result<Plan> {
    let (aes, opener) = open_row(ring, row, !ring.current_first.load(Ordering::Relaxed));
    if opener != Opener::Nobody {
        ring.current_first
            .store(opener == Opener::Current, Ordering::Relaxed);
    }
    let aes = match (aes, opener) {
        (Some(aes), Opener::Previous(_)) => aes,
        (_, Opener::Current) => return Ok(Plan::AlreadyCurrent),
        _ => return Ok(Plan::CannotOpen),
    };
    let bound = envelope::is_group_bound(&row.encrypted_aes_key).then_some(row.group_id);
    Ok(Plan::Rewrap(Rewrap {
        id: row.id,
        old: row.encrypted_aes_key.clone(),
        new: rewrap(ring, public, &aes, bound)?,
    }))
}

/// Wrap `aes` under the current public key (bound to `group` when given), checked to open
/// again with the current private key before it is ever written.
pub fn rewrap(
    ring: &KeyRing,
    public: &RsaPublic,
    aes: &AesKey,
    group: Option<i64>,
) -> Result<String> {
    let new = envelope::wrap_aes_key(public, aes, group)?;
    let reopened = envelope::unwrap_aes_key(&ring.current, &new, group).map_err(|_| {
        Error::Internal("a rewrapped data key did not open with the current private key".into())
    })?;
    if reopened.expose() != aes.expose() {
        return Err(Error::Internal(
            "a rewrapped data key opened to a different key".into(),
        ));
    }
    Ok(new)
}

/// What binding does with one row (see [`plan_bind`]).
#[derive(Debug)]
pub enum BindPlan {
    Rewrap(Rewrap),
    AlreadyBound,
    CannotOpen,
}

/// Plan binding one row to its group: an unbound row that a configured key opens (its data
/// key opening its API-key ciphertext) gets its data key wrapped again under the current
/// public key with its group in the OAEP label; the API-key ciphertext is not touched.
pub fn plan_bind(ring: &KeyRing, public: &RsaPublic, row: &WrappedKey) -> Result<BindPlan> {
    if envelope::is_group_bound(&row.encrypted_aes_key) {
        return Ok(BindPlan::AlreadyBound);
    }
    let Some(aes) = open_row(ring, row, false).0 else {
        return Ok(BindPlan::CannotOpen);
    };
    Ok(BindPlan::Rewrap(Rewrap {
        id: row.id,
        old: row.encrypted_aes_key.clone(),
        new: rewrap(ring, public, &aes, Some(row.group_id))?,
    }))
}

/// Run `work` over `rows` on up to `threads` threads (RSA private operations are CPU-bound),
/// keeping the rows' order in the result.
pub fn parallel<T: Send>(
    rows: &[WrappedKey],
    threads: usize,
    work: impl Fn(&WrappedKey) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let threads = threads.clamp(1, rows.len().max(1));
    let chunk = rows.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = rows
            .chunks(chunk)
            .map(|part| scope.spawn(|| part.iter().map(&work).collect::<Result<Vec<_>>>()))
            .collect();
        let mut out = Vec::with_capacity(rows.len());
        for h in handles {
            let part = h
                .join()
                .map_err(|_| Error::Internal("a key rotation thread failed".into()))??;
            out.extend(part);
        }
        Ok(out)
    })
}

/// The number of threads rotation and verification use: the machine's cores.
pub fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
