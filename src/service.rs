//! The operations of `PsPrivateAccessStore`, free of any Node type: the binding converts
//! arguments into core values (ids and amounts through [`crate::model`]'s checks), this module
//! checks what is stored (ciphertext format, configuration) and does the work, so `cargo test`
//! covers it all.
//!
//! (Over 400 lines: the operations of the one public class, each a few lines over the store
//! and the key ring; the idempotent serve path and the two rotation batches are the longest.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::budget::{BudgetEvent, BudgetStatus};
use crate::config::{self, GroupBinding};
use crate::envelope::{self, SealedKey};
use crate::error::{Error, Result};
use crate::keycache::{self, KeyCache, KeyCacheSettings};
use crate::keyring::{KeyRing, Opener};
use crate::model::{self, KeyFilter, KeyRecord, NewKey, Request, Usage};
use crate::outbox::{self, Claim, EventState, OutboxEvent};
use crate::reservation::{Finished, Hold, Reserve, Settled};
use crate::rotation;
use crate::rsa_keys;
use crate::secret::{AesKey, PrivatePem, SecretString};
use crate::settings::{Env, ProcessEnv, Settings};
use crate::store::{AnyStore, Increment, Store};

/// What an increment served: the opened key (`None`: no key had room) or why the granted key
/// could not be served, and the budget events the call caused (in either case).
#[derive(Debug)]
pub struct Served {
    pub key: Result<Option<SecretString>>,
    pub events: Vec<BudgetEvent>,
}

/// What a reserve served: the hold and its opened key (`None`: no key had room) or why the
/// granted key could not be served, and the budget events the call caused (in either case).
#[derive(Debug)]
pub struct Reserved {
    pub hold: Result<Option<(Hold, SecretString)>>,
    pub events: Vec<BudgetEvent>,
}

/// One batch of a key rotation (declared once: with the `napi` feature it is also the shape
/// `rotateBatch` resolves to in JavaScript).
#[cfg_attr(feature = "napi", napi_derive::napi(object))]
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RotationBatch {
    /// The last id read (the next batch starts after it); absent: no rows left.
    pub last_id: Option<i64>,
    /// Rows rewrapped to the current key.
    pub rotated: i64,
    /// Rows already under the current key (skipped).
    pub already_current: i64,
    /// Rows no configured key opens (left as they are).
    pub cannot_open: Vec<i64>,
    /// Rows whose data key changed between read and write (left for the next run).
    pub changed_meanwhile: i64,
}

/// One batch of a verification (also the shape `verifyBatch` resolves to in JavaScript).
#[cfg_attr(feature = "napi", napi_derive::napi(object))]
#[derive(Debug, Default, Clone, PartialEq)]
pub struct VerifyBatch {
    /// The last id read (the next batch starts after it); absent: no rows left.
    pub last_id: Option<i64>,
    /// Rows the current private key opens.
    pub ok: i64,
    /// Rows only a previous private key opens.
    pub previous_key: i64,
    /// Rows no configured key opens.
    pub cannot_open: Vec<i64>,
    /// Rows that open but are not bound to their group (refused with `groupBinding`
    /// `required`; bound by `bindBatch`).
    pub unbound: i64,
}

/// One batch of binding keys to their groups (also the shape `bindBatch` resolves to).
#[cfg_attr(feature = "napi", napi_derive::napi(object))]
#[derive(Debug, Default, Clone, PartialEq)]
pub struct BindBatch {
    /// The last id read (the next batch starts after it); absent: no rows left.
    pub last_id: Option<i64>,
    /// Rows bound now (their data key rewrapped for their group, under the current key).
    pub bound: i64,
    /// Rows already bound (skipped).
    pub already_bound: i64,
    /// Rows no configured key opens (left as they are).
    pub cannot_open: Vec<i64>,
    /// Rows whose data key changed between read and write (left for the next run).
    pub changed_meanwhile: i64,
}

/// One configured instance: settings and the environment they fall back to, plus a lazily
/// opened store.
pub struct Service {
    settings: Settings,
    env: Box<dyn Env>,
    store: tokio::sync::RwLock<Option<Arc<AnyStore>>>,
    cache: Arc<KeyCache>,
    /// When it was last used (a [`TICK`]), and whether it was evicted from the shared set-ups.
    last_used: std::sync::atomic::AtomicU64,
    evicted: std::sync::atomic::AtomicBool,
    /// A bad cache setting in the environment, reported by every call that opens a key.
    cache_error: Option<String>,
    /// Whether keys are bound to their group, or why the setting is bad (reported by every
    /// call that adds or opens a key).
    group_binding: std::result::Result<GroupBinding, String>,
}

/// Services shared by every caller that names the same set-up, keyed by a digest of it (see
/// [`Service::shared`]).
static SHARED: Mutex<Option<HashMap<[u8; 32], Arc<Service>>>> = Mutex::new(None);

/// The most set-ups shared at once. Each new combination of database variables (jest files,
/// tenants' configurations) makes one with its own pool; beyond this many, the least recently
/// used one is evicted and its pool closed (a handle still holding it reconnects and is shared
/// again on its next call).
pub const MAX_SHARED_SETUPS: usize = 16;

/// A clock of uses, for least-recently-used eviction of shared set-ups.
static TICK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Service {
    /// A service whose unset settings come from the process environment.
    pub fn new(settings: Settings) -> Service {
        Service::with_env(settings, Box::new(ProcessEnv))
    }

    /// A service whose unset settings come from `env` (for example the caller's `process.env`).
    pub fn with_env(settings: Settings, env: Box<dyn Env>) -> Service {
        let (cache, cache_error) = match config::key_cache_settings(&settings, &*env) {
            Ok(c) => (KeyCache::new(c), None),
            Err(e) => (
                KeyCache::new(KeyCacheSettings {
                    enabled: false,
                    ..Default::default()
                }),
                Some(e.to_string()),
            ),
        };
        let cache = Arc::new(cache);
        KeyCache::sweep_in_background(&cache);
        let group_binding = config::group_binding(&settings, &*env).map_err(|e| e.to_string());
        Service {
            group_binding,
            settings,
            env,
            store: tokio::sync::RwLock::new(None),
            cache,
            last_used: std::sync::atomic::AtomicU64::new(0),
            evicted: std::sync::atomic::AtomicBool::new(false),
            cache_error,
        }
    }

    fn touch(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        self.last_used.store(TICK.fetch_add(1, Relaxed), Relaxed);
    }

    /// Whether this service was evicted from the shared set-ups (see [`Service::reshare`]).
    pub fn is_evicted(&self) -> bool {
        self.evicted.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Evict the least recently used set-ups beyond [`MAX_SHARED_SETUPS`] (never `keep`); the
    /// evicted ones, whose pools the caller closes.
    fn evict(map: &mut HashMap<[u8; 32], Arc<Service>>, keep: &[u8; 32]) -> Vec<Arc<Service>> {
        use std::sync::atomic::Ordering::Relaxed;
        let mut evicted = Vec::new();
        while map.len() > MAX_SHARED_SETUPS {
            let Some(oldest) = map
                .iter()
                .filter(|(k, _)| *k != keep)
                .min_by_key(|(_, s)| s.last_used.load(Relaxed))
                .map(|(k, _)| *k)
            else {
                break;
            };
            if let Some(s) = map.remove(&oldest) {
                s.evicted.store(true, Relaxed);
                evicted.push(s);
            }
        }
        evicted
    }

    /// Share an evicted service again (a handle that held it is used again): back among the
    /// shared set-ups unless another took its place; the set-ups this evicts in turn.
    pub fn reshare(key: [u8; 32], service: &Arc<Service>) -> Vec<Arc<Service>> {
        let mut guard = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        let map = guard.get_or_insert_with(HashMap::new);
        service
            .evicted
            .store(false, std::sync::atomic::Ordering::Relaxed);
        service.touch();
        map.entry(key).or_insert_with(|| service.clone());
        Service::evict(map, &key)
    }

    /// The number of set-ups shared now (diagnostics).
    pub fn shared_count() -> usize {
        SHARED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map_or(0, HashMap::len)
    }

    /// The service for one set-up, shared by every caller in the process that names the same
    /// one (`key` is a digest of the options and environment it was made from): two jest files
    /// naming the same database share a pool; files naming different ones never do.
    /// Beyond [`MAX_SHARED_SETUPS`] the least recently used others are evicted: returned, for
    /// the caller to close their pools.
    pub fn shared(
        key: [u8; 32],
        make: impl FnOnce() -> Service,
    ) -> (Arc<Service>, Vec<Arc<Service>>) {
        let mut guard = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        let map = guard.get_or_insert_with(HashMap::new);
        let service = map.entry(key).or_insert_with(|| Arc::new(make())).clone();
        service.touch();
        let evicted = Service::evict(map, &key);
        (service, evicted)
    }

    /// Forget a shared service (after closing it); holders of it keep a working instance that
    /// reconnects on next use.
    pub fn unshare(key: &[u8; 32]) {
        if let Some(map) = SHARED.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            map.remove(key);
        }
    }

    /// The store, connecting (and creating the table if missing) on first use.
    pub async fn store(&self) -> Result<Arc<AnyStore>> {
        self.touch();
        if let Some(s) = self.store.read().await.as_ref() {
            return Ok(s.clone());
        }
        let mut slot = self.store.write().await;
        if let Some(s) = slot.as_ref() {
            return Ok(s.clone());
        }
        let target = config::database_target(&self.settings, &*self.env)?;
        let pool = config::pool_settings(&self.settings, &*self.env)?;
        let budget = config::budget_settings(&self.settings, &*self.env)?;
        let store = Arc::new(AnyStore::connect(target, &pool, budget).await?);
        *slot = Some(store.clone());
        Ok(store)
    }

    /// Cross-key batch statements this set-up's store has sent (0 before it connected).
    pub fn cross_key_batches(&self) -> u64 {
        self.store_count(AnyStore::cross_key_batches)
    }

    /// Increments this set-up's store counted on its one-statement path (0 before it
    /// connected).
    pub fn lean_increments(&self) -> u64 {
        self.store_count(AnyStore::lean_increments)
    }

    /// Statements this set-up's store saw refused by a read-only server.
    pub fn read_only_refusals(&self) -> u64 {
        self.store_count(|s| s.server_counts().0)
    }

    /// Times this set-up's pool moved to another server of a multi-host URL.
    pub fn server_moves(&self) -> u64 {
        self.store_count(|s| s.server_counts().1)
    }

    fn store_count(&self, count: fn(&AnyStore) -> u64) -> u64 {
        self.store
            .try_read()
            .ok()
            .and_then(|s| s.as_ref().map(|s| count(s)))
            .unwrap_or(0)
    }

    /// Close the store's pool and drop every cached data key (zeroized); the next call
    /// reconnects.
    pub async fn close(&self) {
        self.cache.clear();
        let store = self.store.write().await.take();
        if let Some(s) = store {
            s.close().await;
        }
    }

    /// Open a sealed key of `group` (`None`: without a group, unbound keys only): the cached
    /// data key when there is one, else RSA unwrap (then cached).
    pub fn open(
        &self,
        pem: &PrivatePem,
        group: Option<i64>,
        encrypted_api_key: &str,
        encrypted_aes_key: &str,
    ) -> Result<SecretString> {
        let (ct, entry) =
            match self.open_cached(pem, group, encrypted_api_key, encrypted_aes_key)? {
                Lookup::Hit(plaintext) => return Ok(plaintext),
                Lookup::Miss(ct, entry) => (ct, entry),
            };
        let (key, plaintext) = unwrap_and_open(pem, group, encrypted_aes_key, &ct)?;
        self.cache.insert(entry, key);
        Ok(plaintext)
    }

    /// As [`Service::open`], for the async methods: a cache hit opens inline (microseconds);
    /// a miss does its RSA unwrap on the blocking pool, so it never stalls the runtime's
    /// worker, which other calls' database I/O runs on.
    pub async fn open_async(
        &self,
        pem: &PrivatePem,
        group: Option<i64>,
        encrypted_api_key: &str,
        encrypted_aes_key: &str,
    ) -> Result<SecretString> {
        let (ct, entry) =
            match self.open_cached(pem, group, encrypted_api_key, encrypted_aes_key)? {
                Lookup::Hit(plaintext) => return Ok(plaintext),
                Lookup::Miss(ct, entry) => (ct, entry),
            };
        let (pem, wrapped) = (pem.copy(), encrypted_aes_key.to_owned());
        let (key, plaintext) =
            tokio::task::spawn_blocking(move || unwrap_and_open(&pem, group, &wrapped, &ct))
                .await
                .map_err(|e| Error::Internal(format!("decryption task failed: {e}")))??;
        self.cache.insert(entry, key);
        Ok(plaintext)
    }

    /// The part of opening both paths share: settings check, parse, cache lookup.
    fn open_cached(
        &self,
        pem: &PrivatePem,
        group: Option<i64>,
        encrypted_api_key: &str,
        encrypted_aes_key: &str,
    ) -> Result<Lookup> {
        if let Some(e) = &self.cache_error {
            return Err(Error::Config(e.clone()));
        }
        let ct = envelope::parse_encrypted_api_key(encrypted_api_key)?;
        let entry = keycache::cache_key(pem.digest(), group, encrypted_aes_key);
        Ok(match self.cache.get(&entry) {
            Some(key) => Lookup::Hit(envelope::open_with_key(&key, &ct)?),
            None => Lookup::Miss(ct, entry),
        })
    }

    /// The group-binding mode (a bad setting is `PSPAS_CONFIG`).
    pub fn group_binding(&self) -> Result<GroupBinding> {
        self.group_binding.clone().map_err(Error::Config)
    }

    /// The data-key cache (diagnostics and tests).
    pub fn key_cache(&self) -> &KeyCache {
        &self.cache
    }

    /// [`Service::add_key`] without a private key at hand.
    pub async fn add_pre_encrypted_key(&self, key: NewKey) -> Result<KeyRecord> {
        self.add_key(key, None).await
    }

    /// Insert a key (format and configuration checked first; nothing written on rejection).
    /// With `groupBinding` `on` or `required`, an unbound pair is bound to its group first
    /// when `pem` (the configured private keys) opens it; with `required`, a pair that cannot
    /// be bound is refused (`PSPAS_UNBOUND_KEY`). A bound pair is stored as given.
    pub async fn add_key(
        &self,
        mut key: NewKey,
        pem: Option<Arc<PrivatePem>>,
    ) -> Result<KeyRecord> {
        envelope::validate_sealed(&key.encrypted_api_key, &key.encrypted_aes_key)?;
        model::configuration(&key.configuration)?;
        let mode = self.group_binding()?;
        if mode.binds() && !envelope::is_group_bound(&key.encrypted_aes_key) {
            match (bind_new(&key, pem).await, mode) {
                (Some(bound), _) => key.encrypted_aes_key = bound,
                (None, GroupBinding::Required) => return Err(Error::UnboundKey),
                (None, _) => {}
            }
        }
        self.store().await?.insert(&key).await
    }

    pub async fn get_api_keys(&self, group_id: i64, filter: KeyFilter) -> Result<Vec<KeyRecord>> {
        self.store().await?.list(group_id, &filter).await
    }

    /// Count `amount` on the group's first active matching key with budget room and open it,
    /// with the budget events the call caused. If the key cannot be decrypted the increment is
    /// reversed and [`Served::key`] holds the error, so a failed call counts no usage; the
    /// events its decision caused (keys before it that refused the call) are delivered all the
    /// same, since their exactly-once marks are committed.
    ///
    /// With `request_id` the call counts once per id in the group (within the retention
    /// window): a repeat counts nothing, fires no event and serves the key the first call
    /// served, opened afresh (see [`Store::increment`]).
    pub async fn serve(
        &self,
        group_id: i64,
        filter: KeyFilter,
        amount: f64,
        request_id: Option<String>,
        private_pem: Result<impl std::borrow::Borrow<PrivatePem>>,
    ) -> Result<Served> {
        // A group beyond the INTEGER column has no key: nothing to count, nothing to record.
        if group_id > model::MAX_INT4 {
            return Ok(Served {
                key: Ok(None),
                events: Vec::new(),
            });
        }
        let store = self.store().await?;
        let request = request_id.map(|id| Request::new(id, amount, &filter));
        let Increment {
            picked,
            events,
            replayed,
        } = store
            .increment(group_id, &filter, amount, request.as_ref())
            .await?;
        let Some(picked) = picked else {
            return Ok(Served {
                key: Ok(None),
                events,
            });
        };
        let opened = self.open_picked(private_pem, group_id, &picked).await;
        let key = match opened {
            Ok(key) => Ok(Some(key)),
            // A repeat counted nothing: nothing to undo.
            Err(e) if replayed => Err(e),
            // Undo the count, and forget the request id (see `undo`).
            Err(e) => match undo(&store, &picked, amount, group_id, request.as_ref()).await {
                Ok(()) => Err(e),
                Err(undo) => Err(undo),
            },
        };
        Ok(Served { key, events })
    }

    /// Open the key a call of `group_id` was granted (a stored pair that passed the
    /// format-only check but is no envelope is `PSPAS_DECRYPT_FAILED`; an unbound one with
    /// `groupBinding` `required` is `PSPAS_UNBOUND_KEY`).
    async fn open_picked(
        &self,
        private_pem: Result<impl std::borrow::Borrow<PrivatePem>>,
        group_id: i64,
        picked: &crate::model::Picked,
    ) -> Result<SecretString> {
        if self.group_binding()? == GroupBinding::Required
            && !envelope::is_group_bound(&picked.encrypted_aes_key)
        {
            return Err(Error::UnboundKey);
        }
        self.open_async(
            private_pem?.borrow(),
            Some(group_id),
            &picked.encrypted_api_key,
            &picked.encrypted_aes_key,
        )
        .await
        .map_err(|e| match e {
            Error::InvalidFormat => Error::DecryptFailed,
            e => e,
        })
    }

    /// [`Service::serve`] as one result: the key and the events, or the error (the events of
    /// a failed call are dropped here; the binding uses `serve` and delivers them).
    pub async fn increment_usage_and_get_api_key(
        &self,
        group_id: i64,
        filter: KeyFilter,
        amount: f64,
        private_pem: Result<impl std::borrow::Borrow<PrivatePem>>,
    ) -> Result<(Option<SecretString>, Vec<BudgetEvent>)> {
        let served = self
            .serve(group_id, filter, amount, None, private_pem)
            .await?;
        Ok((served.key?, served.events))
    }

    /// Reserve `estimate` on the group's first active matching key with room for it on top of
    /// its use and live holds, and open that key (see [`crate::reservation`]); `ttl`: how long
    /// the hold counts (the configured default when `None`). A key that cannot be opened
    /// releases its hold at once. The events of the keys that refused it are delivered either
    /// way.
    pub async fn reserve(
        &self,
        group_id: i64,
        filter: KeyFilter,
        estimate: f64,
        ttl: Option<std::time::Duration>,
        request_id: Option<String>,
        private_pem: Result<impl std::borrow::Borrow<PrivatePem>>,
    ) -> Result<Reserved> {
        if group_id > model::MAX_INT4 {
            return Ok(Reserved {
                hold: Ok(None),
                events: Vec::new(),
            });
        }
        let store = self.store().await?;
        let request = request_id.map(|id| Request::new(id, estimate, &filter));
        let Reserve {
            hold,
            events,
            replayed,
        } = store
            .reserve(group_id, &filter, estimate, ttl, request.as_ref())
            .await?;
        let Some(hold) = hold else {
            return Ok(Reserved {
                hold: Ok(None),
                events,
            });
        };
        let opened = self.open_picked(private_pem, group_id, &hold.picked).await;
        let hold = match opened {
            Ok(key) => Ok(Some((hold, key))),
            // A repeat holds nothing new: nothing to release.
            Err(e) if replayed => Err(e),
            // The key cannot serve: drop its hold (a retry with the requestId finds the
            // released reservation and fails the same way, holding nothing).
            Err(e) => match store.finish(&hold.reservation_id, None).await {
                Ok(_) => Err(e),
                Err(release) => Err(release),
            },
        };
        Ok(Reserved { hold, events })
    }

    /// Settle a reservation at `actual` (see [`crate::reservation`]).
    /// `PSPAS_RESERVATION_NOT_FOUND` for an id this store never issued (or pruned).
    pub async fn settle_usage(&self, reservation_id: &str, actual: f64) -> Result<Settled> {
        match self
            .store()
            .await?
            .finish(reservation_id, Some(actual))
            .await?
        {
            Finished::Settled(settled) => Ok(settled),
            Finished::Unknown | Finished::Released(_) => Err(Error::ReservationNotFound),
        }
    }

    /// Release a reservation: `true` when a held reservation's hold was dropped now.
    pub async fn release_usage(&self, reservation_id: &str) -> Result<bool> {
        match self.store().await?.finish(reservation_id, None).await? {
            Finished::Released(dropped) => Ok(dropped),
            Finished::Unknown | Finished::Settled(_) => Ok(false),
        }
    }

    /// Lease up to `limit` budget events to `consumer` for `lease` (see [`crate::outbox`]);
    /// `max_attempts`: the configured one when `None`.
    pub async fn claim_budget_events(
        &self,
        consumer: String,
        limit: i64,
        lease: std::time::Duration,
        max_attempts: Option<i64>,
    ) -> Result<Vec<OutboxEvent>> {
        let budget = config::budget_settings(&self.settings, &*self.env)?;
        let claim = Claim {
            consumer,
            limit,
            lease,
            max_attempts: max_attempts.unwrap_or(budget.event_max_attempts),
            retention: budget.event_retention,
        };
        Ok(outbox::oldest_first(
            self.store().await?.claim_events(&claim).await?,
        ))
    }

    /// Ack budget events; the number acked (ids not pending are not counted).
    pub async fn ack_budget_events(&self, ids: &[i64]) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        self.store().await?.ack_events(ids).await
    }

    /// The outbox for an operator, newest first.
    pub async fn list_budget_events(
        &self,
        state: Option<EventState>,
        limit: i64,
    ) -> Result<Vec<OutboxEvent>> {
        self.store().await?.list_events(state, limit).await
    }

    /// Un-park a budget event; `true` if it was parked.
    pub async fn retry_budget_event(&self, id: i64) -> Result<bool> {
        self.store().await?.retry_event(id).await
    }

    pub async fn get_budget_status(&self, id: i64) -> Result<Option<BudgetStatus>> {
        self.store().await?.budget_status(id).await
    }

    /// Replace a key's budget configuration, checked as `add_pre_encrypted_key` checks it
    /// (nothing written on rejection); `true` if the key exists. The next call decides on it.
    pub async fn set_configuration(
        &self,
        id: i64,
        configuration: &serde_json::Value,
    ) -> Result<bool> {
        model::configuration(configuration)?;
        self.store()
            .await?
            .set_configuration(id, configuration)
            .await
    }

    pub async fn set_key_status(&self, id: i64, active: bool) -> Result<bool> {
        self.store().await?.set_active(id, active).await
    }

    pub async fn get_usage(&self, id: i64) -> Result<Option<Usage>> {
        self.store().await?.usage(id).await
    }

    /// Open the store now, creating the table if it is missing (deploys: `migrate`).
    pub async fn migrate(&self) -> Result<()> {
        self.store().await.map(|_| ())
    }

    /// The number of stored keys (progress of a rotation or verification).
    pub async fn count_keys(&self) -> Result<i64> {
        self.store().await?.count_keys().await
    }

    /// Sets of stored keys (ids, in order) that share a ciphertext: copies stored before
    /// `addPreEncryptedKey` refused them, or written to the table directly. Junk pairs that
    /// can never be opened (see [`envelope::is_envelope_shaped`]) are left out.
    pub async fn duplicate_keys(&self) -> Result<Vec<Vec<i64>>> {
        let mut sets: Vec<Vec<i64>> = self
            .store()
            .await?
            .duplicate_keys()
            .await?
            .into_iter()
            .filter(|d| envelope::is_envelope_shaped(&d.encrypted_api_key, &d.encrypted_aes_key))
            .map(|d| d.ids)
            .collect();
        // A full copy shares both ciphertexts: one set, reported once.
        sets.sort();
        sets.dedup();
        Ok(sets)
    }

    /// Rotate the batch of up to `limit` rows after id `after_id` (see [`crate::rotation`]):
    /// rewrap from the previous keys of `pem` to its current key pair. `new_public`, when
    /// given, must be the current key's public half (a guard against rotating to a key the
    /// deployment cannot open).
    pub async fn rotate_batch(
        &self,
        after_id: i64,
        limit: i64,
        pem: &PrivatePem,
        new_public: Option<&SecretString>,
    ) -> Result<RotationBatch> {
        let ring = KeyRing::parse(pem)?;
        let public = ring.current_public();
        if let Some(given) = new_public {
            let given = rsa_keys::public_key_from(given.expose(), rsa_keys::KeySource::Configured)?;
            if !ring.is_current_public(&given) {
                return Err(Error::Config(
                    "the new public key is not the public half of the current private key \
                     (RSA_API_ENCRYPTION_PRIVATE_KEY or the privateKey option): deploy the new \
                     private key as the current one and the old one as a previous key first"
                        .into(),
                ));
            }
        }
        let store = self.store().await?;
        let rows = store.wrapped_keys(after_id, limit).await?;
        let mut batch = RotationBatch {
            last_id: rows.last().map(|r| r.id),
            ..RotationBatch::default()
        };
        let plans = plan_rows(rows, "key rotation", move |row| {
            rotation::plan_row(&ring, &public, row)
        })
        .await?;
        let mut rewraps = Vec::new();
        for (id, plan) in plans {
            match plan {
                rotation::Plan::Rewrap(r) => rewraps.push(r),
                rotation::Plan::AlreadyCurrent => batch.already_current += 1,
                rotation::Plan::CannotOpen => batch.cannot_open.push(id),
            }
        }
        batch.rotated = store.replace_wrapped_keys(&rewraps).await? as i64;
        batch.changed_meanwhile = rewraps.len() as i64 - batch.rotated;
        Ok(batch)
    }

    /// Bind the batch of up to `limit` rows after id `after_id` to their groups (see
    /// [`rotation::plan_bind`]): resumable as [`Service::rotate_batch`], each row written only
    /// if its wrapped key is still the one read.
    pub async fn bind_batch(
        &self,
        after_id: i64,
        limit: i64,
        pem: &PrivatePem,
    ) -> Result<BindBatch> {
        let ring = KeyRing::parse(pem)?;
        let public = ring.current_public();
        let store = self.store().await?;
        let rows = store.wrapped_keys(after_id, limit).await?;
        let mut batch = BindBatch {
            last_id: rows.last().map(|r| r.id),
            ..BindBatch::default()
        };
        let plans = plan_rows(rows, "key binding", move |row| {
            rotation::plan_bind(&ring, &public, row)
        })
        .await?;
        let mut rewraps = Vec::new();
        for (id, plan) in plans {
            match plan {
                rotation::BindPlan::Rewrap(r) => rewraps.push(r),
                rotation::BindPlan::AlreadyBound => batch.already_bound += 1,
                rotation::BindPlan::CannotOpen => batch.cannot_open.push(id),
            }
        }
        batch.bound = store.replace_wrapped_keys(&rewraps).await? as i64;
        batch.changed_meanwhile = rewraps.len() as i64 - batch.bound;
        Ok(batch)
    }

    /// Check the batch of up to `limit` rows after id `after_id`: which of `pem`'s keys opens
    /// each row's data key (and, with it, the row's API-key ciphertext).
    pub async fn verify_batch(
        &self,
        after_id: i64,
        limit: i64,
        pem: &PrivatePem,
    ) -> Result<VerifyBatch> {
        let ring = KeyRing::parse(pem)?;
        let rows = self.store().await?.wrapped_keys(after_id, limit).await?;
        let mut batch = VerifyBatch {
            last_id: rows.last().map(|r| r.id),
            ..VerifyBatch::default()
        };
        let openers = plan_rows(rows, "key verification", move |row| {
            let bound = envelope::is_group_bound(&row.encrypted_aes_key);
            Ok((rotation::opener(&ring, row), bound))
        })
        .await?;
        for (id, (opener, bound)) in openers {
            match opener {
                Opener::Current => batch.ok += 1,
                Opener::Previous(_) => batch.previous_key += 1,
                Opener::Nobody => batch.cannot_open.push(id),
            }
            if !bound && opener != Opener::Nobody {
                batch.unbound += 1;
            }
        }
        Ok(batch)
    }
}

/// `plan` of every row (RSA work: off the runtime, across the machine's cores), by row id, in
/// the rows' order; `what` names the task in an error.
async fn plan_rows<P: Send + 'static>(
    rows: Vec<rotation::WrappedKey>,
    what: &'static str,
    plan: impl Fn(&rotation::WrappedKey) -> Result<P> + Send + Sync + 'static,
) -> Result<Vec<(i64, P)>> {
    tokio::task::spawn_blocking(move || {
        rotation::parallel(&rows, rotation::threads(), |row| Ok((row.id, plan(row)?)))
    })
    .await
    .map_err(|e| Error::Internal(format!("{what} task failed: {e}")))?
}

/// `key`'s data key wrapped again for its group (see [`rotation::plan_bind`]), or `None` when
/// no private key is configured or none opens it (then it is stored as given, or refused).
async fn bind_new(key: &NewKey, pem: Option<Arc<PrivatePem>>) -> Option<String> {
    let row = rotation::WrappedKey {
        id: 0,
        group_id: key.group_id,
        encrypted_api_key: key.encrypted_api_key.clone(),
        encrypted_aes_key: key.encrypted_aes_key.clone(),
    };
    let plan = tokio::task::spawn_blocking(move || {
        let ring = KeyRing::load(pem?.as_ref()).ok()?;
        rotation::plan_bind(&ring, &ring.current_public(), &row).ok()
    })
    .await
    .ok()??;
    match plan {
        rotation::BindPlan::Rewrap(r) => Some(r.new),
        _ => None,
    }
}

/// Seal an API key with a public key PEM (an empty key is refused before any RSA work).
pub fn encrypt_with(
    public_pem: &SecretString,
    source: rsa_keys::KeySource,
    api_key: &str,
) -> Result<SealedKey> {
    if api_key.is_empty() {
        return Err(Error::EmptyApiKey);
    }
    envelope::seal(
        &*rsa_keys::public_key_from(public_pem.expose(), source)?,
        api_key,
        None,
    )
}

/// Take back an increment whose key could not be opened, then forget its request id so a
/// retry counts afresh (in this order: a crash between the two can under-count one call,
/// never count it twice).
async fn undo(
    store: &AnyStore,
    picked: &crate::model::Picked,
    amount: f64,
    group_id: i64,
    request: Option<&Request>,
) -> Result<()> {
    store.undo_increment(picked, amount).await?;
    if let Some(request) = request {
        store.forget_request(group_id, &request.id).await?;
    }
    Ok(())
}

enum Lookup {
    Hit(SecretString),
    Miss(envelope::Ciphertext, keycache::CacheKey),
}

/// RSA-unwrap the data key and open the ciphertext with it; the key is returned for caching
/// only because the open succeeded (GCM verified). The current private key is tried first,
/// then the previous ones in order (during a key rotation, rows not yet rewrapped).
fn unwrap_and_open(
    pem: &PrivatePem,
    group: Option<i64>,
    encrypted_aes_key: &str,
    ct: &envelope::Ciphertext,
) -> Result<(AesKey, SecretString)> {
    let (key, plaintext, _) = KeyRing::load(pem)?.open(encrypted_aes_key, group, ct, false)?;
    Ok((key, plaintext))
}
