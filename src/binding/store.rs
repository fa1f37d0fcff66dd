//! `NativeStore`: one handle per database set-up, made by the JS layer from the caller's
//! options and `process.env`. Handles naming the same set-up share one service (pool, key
//! cache) in the process; different set-ups never share one. The async operations run on the
//! runtime; ids and amounts are validated by the core, inside the promise, so a bad value
//! rejects instead of throwing.

use std::collections::HashMap;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::crypto::NativePrivateKey;
use super::options;
use super::{promise, records, to_js, CoreResult};
use crate::config;
use crate::error::Error as CoreError;
use crate::model::{self, ActiveFilter, IdFilter, KeyFilter, NewKey};
use crate::secret::SecretString;
use crate::service::{BindBatch, RotationBatch, Service, VerifyBatch};
use crate::settings::{self as setting, NoEnv};

/// Filters as Sequelize read them: absent/`undefined` adds none, `null` is SQL `NULL`.
#[napi(object)]
pub struct NativeFilter {
    pub ai_model_id: Option<Either<f64, Null>>,
    pub external_api_id: Option<Either<f64, Null>>,
    pub is_active: Option<Either<bool, Null>>,
}

fn id_filter(name: &str, v: &Option<Either<f64, Null>>) -> CoreResult<IdFilter> {
    Ok(match v {
        None => IdFilter::Any,
        Some(Either::B(Null)) => IdFilter::Null,
        Some(Either::A(n)) => IdFilter::Eq(model::id(name, *n)?),
    })
}

impl NativeFilter {
    fn to_core(&self, with_active: bool) -> CoreResult<KeyFilter> {
        Ok(KeyFilter {
            ai_model_id: id_filter("aiModelId", &self.ai_model_id)?,
            external_api_id: id_filter("externalApiId", &self.external_api_id)?,
            is_active: match (&self.is_active, with_active) {
                (_, false) | (None, _) => ActiveFilter::Any,
                (Some(Either::B(Null)), true) => ActiveFilter::Null,
                (Some(Either::A(b)), true) => ActiveFilter::Is(*b),
            },
        })
    }
}

/// Close the pools of set-ups evicted from the shared ones (off the JS thread).
fn close_evicted(evicted: Vec<Arc<Service>>) {
    for service in evicted {
        napi::bindgen_prelude::spawn(async move { service.close().await });
    }
}

impl NativeStore {
    /// This handle's service, shared again first if it was evicted meanwhile.
    pub(super) fn service(&self) -> Arc<Service> {
        if self.service.is_evicted() {
            close_evicted(Service::reshare(self.key, &self.service));
        }
        self.service.clone()
    }
}

/// A decrypted API key on its way to JavaScript; zeroized once the JS string exists.
pub struct PlainApiKey(SecretString);

impl ToNapiValue for PlainApiKey {
    unsafe fn to_napi_value(env: napi::sys::napi_env, val: Self) -> Result<napi::sys::napi_value> {
        unsafe { <&str as ToNapiValue>::to_napi_value(env, val.0.expose()) }
    }
}

/// The outcome of an increment: `{ apiKey: string | null, events: string | null, error:
/// string | null }`, the events as JSON text (rare; `null` on the common path), `error` the
/// coded message when the granted key could not be served (the events still happened).
pub struct Incremented {
    api_key: Option<PlainApiKey>,
    events: Option<String>,
    error: Option<String>,
}

impl ToNapiValue for Incremented {
    unsafe fn to_napi_value(env: napi::sys::napi_env, val: Self) -> Result<napi::sys::napi_value> {
        let env = Env::from_raw(env);
        let mut o = Object::new(&env)?;
        o.set("apiKey", val.api_key)?;
        o.set("events", val.events)?;
        o.set("error", val.error)?;
        unsafe { Object::to_napi_value(env.raw(), o) }
    }
}

/// The outcome of a reserve: `{ reservation: string | null, apiKey: string | null, events:
/// string | null, error: string | null }`, `reservation` the hold as JSON (without the key),
/// the rest as for [`Incremented`].
pub struct Reserved {
    reservation: Option<String>,
    api_key: Option<PlainApiKey>,
    events: Option<String>,
    error: Option<String>,
}

impl ToNapiValue for Reserved {
    unsafe fn to_napi_value(env: napi::sys::napi_env, val: Self) -> Result<napi::sys::napi_value> {
        let env = Env::from_raw(env);
        let mut o = Object::new(&env)?;
        o.set("reservation", val.reservation)?;
        o.set("apiKey", val.api_key)?;
        o.set("events", val.events)?;
        o.set("error", val.error)?;
        unsafe { Object::to_napi_value(env.raw(), o) }
    }
}

/// The outcome of a settle: `{ settlement: string, events: string | null }` (JSON text).
#[napi(object)]
pub struct SettledJson {
    pub settlement: String,
    pub events: Option<String>,
}

/// The caller's `JSON.stringify(configuration)` as JSON (checked by the core).
fn configuration_from(json: &str) -> CoreResult<serde_json::Value> {
    model::bounds::configuration_json(json)?;
    serde_json::from_str(json)
        .map_err(|_| CoreError::InvalidConfiguration("configuration must be JSON".into()))
}

/// A batch's start (an id, 0 to start) and size (1 to 10,000).
fn batch_bounds(after_id: f64, limit: f64) -> CoreResult<(i64, i64)> {
    let after_id = model::id("afterId", after_id)?;
    let limit = model::id("batchSize", limit)?;
    if !(1..=10_000).contains(&limit) {
        return Err(CoreError::InvalidArgument(
            "batchSize must be an integer from 1 to 10000".into(),
        ));
    }
    Ok((after_id, limit))
}

/// A database set-up: a handle on the service shared by every caller that names it.
#[napi]
pub struct NativeStore {
    pub(super) service: Arc<Service>,
    key: [u8; 32],
}

#[napi]
impl NativeStore {
    /// Check `configure()` option values (pool numbers, timezone, database URL) without
    /// opening anything; throws the coded error naming the option.
    #[napi(catch_unwind)]
    pub fn check_options(options: HashMap<String, Either3<String, f64, bool>>) -> Result<()> {
        let settings = options::settings_from(options).map_err(to_js)?;
        if settings.has(&setting::DATABASE_URL) {
            config::database_target(&settings, &NoEnv).map_err(to_js)?;
        }
        Ok(())
    }

    /// The handle for the set-up named by `options` and the caller's environment `env`
    /// (`osUser`: PostgreSQL's last default role). Nothing is opened until first use.
    #[napi(factory, catch_unwind)]
    pub fn open(
        options: HashMap<String, Either3<String, f64, bool>>,
        env: HashMap<String, String>,
        os_user: Option<String>,
    ) -> Result<NativeStore> {
        let settings = options::settings_from(options).map_err(to_js)?;
        let env = options::env_map(env, os_user);
        let key = options::fingerprint(&settings, &env);
        let (service, evicted) =
            Service::shared(key, || Service::with_env(settings, Box::new(env)));
        close_evicted(evicted);
        Ok(NativeStore { service, key })
    }

    /// Diagnostics of this process as JSON: `{ keyCacheEntries, sharedSetups,
    /// coreDumpsExcluded, crossKeyBatches, leanIncrements, readOnlyRefusals, serverMoves }`
    /// (this set-up's data-key cache, every set-up shared now, the process's dumpable flag,
    /// this set-up's cross-key batch statements, increments counted on its one-statement
    /// path, statements a read-only server refused and moves to another listed server).
    #[napi(catch_unwind)]
    pub fn diagnostics(&self) -> String {
        records::json(&serde_json::json!({
            "keyCacheEntries": self.service.key_cache().held(),
            "sharedSetups": Service::shared_count(),
            "coreDumpsExcluded": crate::secret::core_dumps_excluded(),
            "crossKeyBatches": self.service.cross_key_batches(),
            "leanIncrements": self.service.lean_increments(),
            "readOnlyRefusals": self.service.read_only_refusals(),
            "serverMoves": self.service.server_moves(),
        }))
    }

    /// Open a sealed key with `privateKey` (the data-key cache of this set-up first); a key
    /// bound to its group is `PSPAS_GROUP_BOUND` here (it opens only through its group's
    /// calls). `null`: the variable is not set (the original's error).
    #[napi(catch_unwind, ts_return_type = "string")]
    pub fn decrypt(
        &self,
        private_key: Option<&NativePrivateKey>,
        encrypted_api_key: String,
        encrypted_aes_key: String,
    ) -> Result<PlainApiKey> {
        let pem = private_key
            .map(|k| k.pem.clone())
            .ok_or(CoreError::MissingPrivateKey)
            .map_err(to_js)?;
        self.service
            .open(&pem, None, &encrypted_api_key, &encrypted_aes_key)
            .map(PlainApiKey)
            .map_err(to_js)
    }

    /// Insert a key (format and configuration checked first; nothing written on rejection).
    /// `configurationJson` is the caller's `JSON.stringify(configuration)`; `privateKey`
    /// (`null`: not set) binds the key to its group when `groupBinding` asks for it. Resolves
    /// to the record as JSON.
    #[napi(catch_unwind, ts_return_type = "Promise<string>")]
    #[allow(clippy::too_many_arguments)]
    pub fn add<'e>(
        &self,
        env: &'e Env,
        group_id: f64,
        user_id: f64,
        ai_model_id: Option<f64>,
        external_api_id: Option<f64>,
        encrypted_api_key: String,
        encrypted_aes_key: String,
        configuration_json: String,
        private_key: Option<&NativePrivateKey>,
    ) -> Result<PromiseRaw<'e, String>> {
        let service = self.service();
        let pem = private_key.map(|k| k.pem.clone());
        promise(env, async move {
            let key = NewKey {
                group_id: model::stored_id("groupId", group_id)?,
                user_id: model::stored_id("userId", user_id)?,
                ai_model_id: ai_model_id
                    .map(|v| model::stored_id("aiModelId", v))
                    .transpose()?,
                external_api_id: external_api_id
                    .map(|v| model::stored_id("externalApiId", v))
                    .transpose()?,
                encrypted_api_key,
                encrypted_aes_key,
                configuration: configuration_from(&configuration_json)?,
            };
            Ok(records::json(&service.add_key(key, pem).await?))
        })
    }

    /// The group's keys as a JSON array of records, `is_active DESC, id ASC`.
    #[napi(catch_unwind, ts_return_type = "Promise<string>")]
    pub fn list<'e>(
        &self,
        env: &'e Env,
        group_id: f64,
        filter: NativeFilter,
    ) -> Result<PromiseRaw<'e, String>> {
        let service = self.service();
        let filter = filter.to_core(true);
        promise(env, async move {
            let group_id = model::id("groupId", group_id)?;
            Ok(records::json(
                &service.get_api_keys(group_id, filter?).await?,
            ))
        })
    }

    /// Count `amount` on the group's first active matching key with room and open it with
    /// `privateKey` (`null`: the variable is not set, which fails only if a key is picked).
    /// With `requestId`, the call counts once per id in the group (a repeat counts nothing).
    #[napi(
        catch_unwind,
        ts_return_type = "Promise<{ apiKey: string | null; events: string | null; error: string | null }>"
    )]
    pub fn increment<'e>(
        &self,
        env: &'e Env,
        group_id: f64,
        filter: NativeFilter,
        amount: f64,
        private_key: Option<&NativePrivateKey>,
        request_id: Option<String>,
    ) -> Result<PromiseRaw<'e, Incremented>> {
        let service = self.service();
        let filter = filter.to_core(false);
        let pem = private_key
            .map(|k| k.pem.clone())
            .ok_or(CoreError::MissingPrivateKey);
        promise(env, async move {
            let group_id = model::id("groupId", group_id)?;
            let amount = model::amount(amount)?;
            let request_id = request_id.map(model::request_id).transpose()?;
            let served = service
                .serve(group_id, filter?, amount, request_id, pem)
                .await?;
            let (api_key, error) = match served.key {
                Ok(key) => (key.map(PlainApiKey), None),
                Err(e) => (None, Some(e.coded_message())),
            };
            Ok(Incremented {
                api_key,
                events: records::events(&served.events),
                error,
            })
        })
    }

    /// Reserve `estimate` on the group's first active matching key with room for it on top of
    /// its use and live holds, and open it with `privateKey`; the hold counts for `ttlMs`
    /// (the configured default when absent). With `requestId`, a repeat returns the first
    /// reserve's reservation.
    #[napi(
        catch_unwind,
        ts_return_type = "Promise<{ reservation: string | null; apiKey: string | null; events: string | null; error: string | null }>"
    )]
    #[allow(clippy::too_many_arguments)]
    pub fn reserve<'e>(
        &self,
        env: &'e Env,
        group_id: f64,
        filter: NativeFilter,
        estimate: f64,
        private_key: Option<&NativePrivateKey>,
        request_id: Option<String>,
        ttl_ms: Option<f64>,
    ) -> Result<PromiseRaw<'e, Reserved>> {
        let service = self.service();
        let filter = filter.to_core(false);
        let pem = private_key
            .map(|k| k.pem.clone())
            .ok_or(CoreError::MissingPrivateKey);
        promise(env, async move {
            let group_id = model::id("groupId", group_id)?;
            let estimate = model::amount_named("estimate", estimate)?;
            let request_id = request_id.map(model::request_id).transpose()?;
            let ttl = ttl_ms.map(model::ttl_ms).transpose()?;
            let reserved = service
                .reserve(group_id, filter?, estimate, ttl, request_id, pem)
                .await?;
            let (reservation, api_key, error) = match reserved.hold {
                Ok(Some((hold, key))) => (
                    Some(records::json(&hold.view())),
                    Some(PlainApiKey(key)),
                    None,
                ),
                Ok(None) => (None, None, None),
                Err(e) => (None, None, Some(e.coded_message())),
            };
            Ok(Reserved {
                reservation,
                api_key,
                events: records::events(&reserved.events),
                error,
            })
        })
    }

    /// Settle a reservation at `actualAmount`: the settlement as JSON and the events its
    /// charge fired. Idempotent (a repeat returns the first settlement).
    #[napi(catch_unwind, ts_return_type = "Promise<SettledJson>")]
    pub fn settle<'e>(
        &self,
        env: &'e Env,
        reservation_id: String,
        actual_amount: f64,
    ) -> Result<PromiseRaw<'e, SettledJson>> {
        let service = self.service();
        promise(env, async move {
            let reservation_id = model::reservation_id(reservation_id)?;
            let actual = model::amount_named("actualAmount", actual_amount)?;
            let settled = service.settle_usage(&reservation_id, actual).await?;
            Ok(SettledJson {
                settlement: records::json(&settled.settlement),
                events: records::events(&settled.events),
            })
        })
    }

    /// Release a reservation without charging: `true` when its hold was dropped now.
    #[napi(catch_unwind, ts_return_type = "Promise<boolean>")]
    pub fn release<'e>(
        &self,
        env: &'e Env,
        reservation_id: String,
    ) -> Result<PromiseRaw<'e, bool>> {
        let service = self.service();
        promise(env, async move {
            let reservation_id = model::reservation_id(reservation_id)?;
            service.release_usage(&reservation_id).await
        })
    }

    /// Replace a key's configuration (`configurationJson`: the caller's `JSON.stringify`),
    /// checked as `add` checks it; `true` if the key exists.
    #[napi(catch_unwind, ts_return_type = "Promise<boolean>")]
    pub fn set_configuration<'e>(
        &self,
        env: &'e Env,
        id: f64,
        configuration_json: String,
    ) -> Result<PromiseRaw<'e, bool>> {
        let service = self.service();
        promise(env, async move {
            let id = model::id("id", id)?;
            let configuration = configuration_from(&configuration_json)?;
            service.set_configuration(id, &configuration).await
        })
    }

    /// Set `is_active`; `true` if a row was updated.
    #[napi(catch_unwind, ts_return_type = "Promise<boolean>")]
    pub fn set_active<'e>(
        &self,
        env: &'e Env,
        id: f64,
        active: bool,
    ) -> Result<PromiseRaw<'e, bool>> {
        let service = self.service();
        promise(env, async move {
            service.set_key_status(model::id("id", id)?, active).await
        })
    }

    /// The usage of the current period as JSON, or `null` for an unknown id.
    #[napi(catch_unwind, ts_return_type = "Promise<string | null>")]
    pub fn usage<'e>(&self, env: &'e Env, id: f64) -> Result<PromiseRaw<'e, Option<String>>> {
        let service = self.service();
        promise(env, async move {
            Ok(service
                .get_usage(model::id("id", id)?)
                .await?
                .map(|u| records::json(&u)))
        })
    }

    /// The budget status as JSON, or `null` for an unknown id.
    #[napi(catch_unwind, ts_return_type = "Promise<string | null>")]
    pub fn budget_status<'e>(
        &self,
        env: &'e Env,
        id: f64,
    ) -> Result<PromiseRaw<'e, Option<String>>> {
        let service = self.service();
        promise(env, async move {
            Ok(service
                .get_budget_status(model::id("id", id)?)
                .await?
                .map(|s| records::json(&s)))
        })
    }

    /// Open the store now, creating the table if it is missing.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn migrate<'e>(&self, env: &'e Env) -> Result<PromiseRaw<'e, ()>> {
        let service = self.service();
        promise(env, async move { service.migrate().await })
    }

    /// The number of stored keys.
    #[napi(catch_unwind, ts_return_type = "Promise<number>")]
    pub fn count_keys<'e>(&self, env: &'e Env) -> Result<PromiseRaw<'e, i64>> {
        let service = self.service();
        promise(env, async move { service.count_keys().await })
    }

    /// Rotate the batch of up to `limit` rows after id `afterId` from the previous private
    /// keys of `privateKey` to its current key pair (`newPublicKey`, when given, must be the
    /// current key's public half).
    #[napi(catch_unwind, ts_return_type = "Promise<RotationBatch>")]
    pub fn rotate_batch<'e>(
        &self,
        env: &'e Env,
        after_id: f64,
        limit: f64,
        private_key: Option<&NativePrivateKey>,
        new_public_key: Option<String>,
    ) -> Result<PromiseRaw<'e, RotationBatch>> {
        let service = self.service();
        let pem = private_key
            .map(|k| k.pem.clone())
            .ok_or(CoreError::MissingPrivateKey);
        let new_public_key = new_public_key.map(SecretString::new);
        promise(env, async move {
            let (after_id, limit) = batch_bounds(after_id, limit)?;
            service
                .rotate_batch(after_id, limit, &*pem?, new_public_key.as_ref())
                .await
        })
    }

    /// Bind the batch of up to `limit` rows after id `afterId` to their groups with
    /// `privateKey` (each unbound row's data key rewrapped under the current key pair with its
    /// group in the RSA-OAEP label).
    #[napi(catch_unwind, ts_return_type = "Promise<BindBatch>")]
    pub fn bind_batch<'e>(
        &self,
        env: &'e Env,
        after_id: f64,
        limit: f64,
        private_key: Option<&NativePrivateKey>,
    ) -> Result<PromiseRaw<'e, BindBatch>> {
        let service = self.service();
        let pem = private_key
            .map(|k| k.pem.clone())
            .ok_or(CoreError::MissingPrivateKey);
        promise(env, async move {
            let (after_id, limit) = batch_bounds(after_id, limit)?;
            service.bind_batch(after_id, limit, &*pem?).await
        })
    }

    /// Check the batch of up to `limit` rows after id `afterId`: which key opens each row.
    #[napi(catch_unwind, ts_return_type = "Promise<VerifyBatch>")]
    pub fn verify_batch<'e>(
        &self,
        env: &'e Env,
        after_id: f64,
        limit: f64,
        private_key: Option<&NativePrivateKey>,
    ) -> Result<PromiseRaw<'e, VerifyBatch>> {
        let service = self.service();
        let pem = private_key
            .map(|k| k.pem.clone())
            .ok_or(CoreError::MissingPrivateKey);
        promise(env, async move {
            let (after_id, limit) = batch_bounds(after_id, limit)?;
            service.verify_batch(after_id, limit, &*pem?).await
        })
    }

    /// Sets of stored key ids sharing a ciphertext (copies stored before they were refused, or
    /// written directly), as a JSON array of id arrays.
    #[napi(catch_unwind, ts_return_type = "Promise<string>")]
    pub fn duplicate_keys<'e>(&self, env: &'e Env) -> Result<PromiseRaw<'e, String>> {
        let service = self.service();
        promise(env, async move {
            Ok(records::json(&service.duplicate_keys().await?))
        })
    }

    /// Close this set-up's pool and stop sharing it; the next call through any handle on it
    /// reconnects.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn close<'e>(&self, env: &'e Env) -> Result<PromiseRaw<'e, ()>> {
        Service::unshare(&self.key);
        let service = self.service.clone();
        promise(env, async move {
            service.close().await;
            Ok(())
        })
    }
}
