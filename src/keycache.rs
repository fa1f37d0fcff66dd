//! A cache of unwrapped AES data keys, so the RSA private operation (milliseconds) runs once
//! per stored key instead of once per call. Modelled on the AWS Encryption SDK's data-key
//! caching: every entry is bounded in age, the cache in entries, and the trade-off is
//! explicit: plaintext data keys stay in process memory (zeroized when evicted) for at most
//! `max_age`. It can be switched off.
//!
//! Safety of what it serves:
//! - The entry key is SHA-256 over the private key's digest, the group the key is opened for
//!   and the wrapped key's text: a
//!   rotated row (new wrapped key) misses, and so does every row once the configured private
//!   key changes; a "foreign" wrapped key never matches an entry made for another.
//! - Entries are made only after a full open succeeded (RSA unwrap and GCM verification).
//! - The cache never picks a row: every call still selects an active row in the database, so a
//!   deactivated key is never served from it. A cached data key opens only ciphertexts sealed
//!   with it; GCM still authenticates each one.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rsa::sha2::{Digest, Sha256};

use crate::secret::AesKey;

#[derive(Debug, Clone, PartialEq)]
pub struct KeyCacheSettings {
    pub enabled: bool,
    pub max_entries: usize,
    pub max_age: Duration,
}

impl Default for KeyCacheSettings {
    fn default() -> Self {
        KeyCacheSettings {
            enabled: true,
            max_entries: 1000,
            max_age: Duration::from_secs(600),
        }
    }
}

pub type CacheKey = [u8; 32];

/// The entry key for a wrapped AES key opened for `group` (`None`: without one, as
/// `decryptApiKey`) with the private key PEM whose SHA-256 digest is `pem_digest` (see
/// [`crate::secret::PrivatePem`]). The group is part of it, so a data key opened for one
/// group is never served from the cache to another.
pub fn cache_key(pem_digest: &[u8; 32], group: Option<i64>, encrypted_aes_key: &str) -> CacheKey {
    let mut h = Sha256::new();
    h.update(pem_digest);
    match group {
        Some(g) => {
            h.update([1]);
            h.update(g.to_be_bytes());
        }
        None => h.update([0]),
    }
    h.update(encrypted_aes_key.as_bytes());
    h.finalize().into()
}

struct Inner {
    map: HashMap<CacheKey, (Arc<AesKey>, Instant)>,
    order: VecDeque<(CacheKey, Instant)>,
}

pub struct KeyCache {
    settings: KeyCacheSettings,
    inner: Mutex<Inner>,
}

impl KeyCache {
    pub fn new(settings: KeyCacheSettings) -> KeyCache {
        KeyCache {
            settings,
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                order: VecDeque::new(),
            }),
        }
    }

    pub fn settings(&self) -> &KeyCacheSettings {
        &self.settings
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A live entry, or `None` (expired entries are dropped, hence zeroized, on the way).
    pub fn get(&self, key: &CacheKey) -> Option<Arc<AesKey>> {
        if !self.enabled() {
            return None;
        }
        let mut inner = self.lock();
        let now = Instant::now();
        Self::expire(&mut inner, now, self.settings.max_age);
        inner.map.get(key).map(|(k, _)| k.clone())
    }

    pub fn insert(&self, key: CacheKey, value: AesKey) {
        if !self.enabled() {
            return;
        }
        let mut inner = self.lock();
        let now = Instant::now();
        Self::expire(&mut inner, now, self.settings.max_age);
        if inner.map.insert(key, (Arc::new(value), now)).is_none() {
            inner.order.push_back((key, now));
        }
        while inner.map.len() > self.settings.max_entries {
            let Some((oldest, _)) = inner.order.pop_front() else {
                break;
            };
            inner.map.remove(&oldest);
        }
    }

    fn enabled(&self) -> bool {
        self.settings.enabled && self.settings.max_entries > 0 && !self.settings.max_age.is_zero()
    }

    fn expire(inner: &mut Inner, now: Instant, max_age: Duration) {
        while let Some((k, at)) = inner.order.front().copied() {
            if now.duration_since(at) < max_age {
                break;
            }
            inner.order.pop_front();
            inner.map.remove(&k);
        }
    }

    /// Live entries (for tests and diagnostics).
    pub fn len(&self) -> usize {
        let mut inner = self.lock();
        Self::expire(&mut inner, Instant::now(), self.settings.max_age);
        inner.map.len()
    }

    /// Entries held now, expired or not (what the sweeper has not dropped yet): diagnostics.
    pub fn held(&self) -> usize {
        self.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drop every entry (zeroizing those no call holds).
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.map.clear();
        inner.order.clear();
    }

    /// Drop the expired entries now (the sweeper's step; see [`KeyCache::sweep_in_background`]).
    pub fn sweep(&self) {
        let mut inner = self.lock();
        Self::expire(&mut inner, Instant::now(), self.settings.max_age);
    }

    /// Register `cache` with the process's one sweeper thread, which drops expired entries
    /// (zeroizing them) without waiting for a call: an idle process keeps no data key past
    /// `max_age` plus a sweep interval (a quarter of the shortest `max_age` registered, from
    /// 10 ms to 1 s). The sweeper holds only a weak reference: a dropped cache leaves it.
    pub fn sweep_in_background(cache: &Arc<KeyCache>) {
        if !cache.enabled() {
            return;
        }
        let mut sweeper = SWEEPER.lock().unwrap_or_else(|p| p.into_inner());
        sweeper.caches.push(Arc::downgrade(cache));
        // A sweeper asleep for longer than this cache allows recomputes its pause now.
        SWEEP_WAKE.notify_all();
        if !sweeper.running {
            // A failure to start the thread leaves expiry on use, as before.
            sweeper.running = std::thread::Builder::new()
                .name("pspas-key-cache-sweeper".into())
                .spawn(sweep_forever)
                .is_ok();
        }
    }
}

struct Sweeper {
    caches: Vec<std::sync::Weak<KeyCache>>,
    running: bool,
}

static SWEEPER: Mutex<Sweeper> = Mutex::new(Sweeper {
    caches: Vec::new(),
    running: false,
});
static SWEEP_WAKE: std::sync::Condvar = std::sync::Condvar::new();

fn sweep_forever() {
    loop {
        let caches: Vec<Arc<KeyCache>> = {
            let mut sweeper = SWEEPER.lock().unwrap_or_else(|p| p.into_inner());
            sweeper.caches.retain(|w| w.strong_count() > 0);
            sweeper.caches.iter().filter_map(|w| w.upgrade()).collect()
        };
        let pause = caches
            .iter()
            .map(|c| c.settings.max_age / 4)
            .min()
            .unwrap_or(Duration::from_secs(1))
            .clamp(Duration::from_millis(10), Duration::from_secs(1));
        for cache in &caches {
            cache.sweep();
        }
        drop(caches);
        // Sleep `pause`, or less when a cache registers meanwhile.
        let sweeper = SWEEPER.lock().unwrap_or_else(|p| p.into_inner());
        drop(SWEEP_WAKE.wait_timeout(sweeper, pause));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(n: u8) -> CacheKey {
        [n; 32]
    }

    #[test]
    fn bounded_in_entries_oldest_first() {
        let c = KeyCache::new(KeyCacheSettings {
            enabled: true,
            max_entries: 3,
            max_age: Duration::from_secs(60),
        });
        for n in 0..5 {
            c.insert(k(n), AesKey::from_bytes([n; 32]));
        }
        assert_eq!(c.len(), 3);
        assert!(c.get(&k(0)).is_none() && c.get(&k(1)).is_none());
        assert_eq!(c.get(&k(4)).unwrap().expose(), &[4u8; 32]);
    }

    #[test]
    fn bounded_in_age() {
        let c = KeyCache::new(KeyCacheSettings {
            enabled: true,
            max_entries: 10,
            max_age: Duration::from_millis(50),
        });
        c.insert(k(1), AesKey::from_bytes([1; 32]));
        assert!(c.get(&k(1)).is_some());
        std::thread::sleep(Duration::from_millis(80));
        assert!(c.get(&k(1)).is_none());
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn the_sweeper_drops_expired_entries_without_a_call() {
        let c = Arc::new(KeyCache::new(KeyCacheSettings {
            enabled: true,
            max_entries: 10,
            max_age: Duration::from_millis(40),
        }));
        KeyCache::sweep_in_background(&c);
        c.insert(k(7), AesKey::from_bytes([7; 32]));
        std::thread::sleep(Duration::from_millis(200));
        // Read without expiring: the sweeper has removed the entry.
        assert_eq!(c.lock().map.len(), 0);
    }

    #[test]
    fn switched_off_keeps_nothing() {
        let c = KeyCache::new(KeyCacheSettings {
            enabled: false,
            ..KeyCacheSettings::default()
        });
        c.insert(k(1), AesKey::from_bytes([1; 32]));
        assert!(c.get(&k(1)).is_none());
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn entry_keys_separate_private_keys_and_wrapped_keys() {
        let d = |pem: &str| -> [u8; 32] { Sha256::digest(pem.as_bytes()).into() };
        let (a, b) = (d("pem-a"), d("pem-b"));
        assert_ne!(
            cache_key(&a, None, "wrapped"),
            cache_key(&b, None, "wrapped")
        );
        assert_ne!(
            cache_key(&a, None, "wrapped-1"),
            cache_key(&a, None, "wrapped-2")
        );
        assert_eq!(
            cache_key(&a, None, "wrapped"),
            cache_key(&a, None, "wrapped")
        );
        // A data key opened for one group is never served to another, nor without a group.
        assert_ne!(
            cache_key(&a, Some(1), "wrapped"),
            cache_key(&a, Some(2), "wrapped")
        );
        assert_ne!(
            cache_key(&a, Some(0), "wrapped"),
            cache_key(&a, None, "wrapped")
        );
    }
}
