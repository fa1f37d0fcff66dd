//! The Node binding: every `#[napi]` item lives here, and nothing else touches napi.
//!
//! Arguments arrive as `unknown` and are checked here, so a wrong type gets the same coded
//! error as a wrong value (`PSPAS_INVALID_ARGUMENT: …`) instead of napi's conversion message;
//! the TypeScript signatures are written out to match the documented API exactly. The async
//! methods validate on the JS thread, read the RSA key from the environment at call time, then
//! run the database and RSA/AES work on the runtime's worker threads.

#![allow(clippy::new_without_default)]

use std::cell::RefCell;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::Value;

use crate::budget::{self, BudgetEvent, BudgetStatus};
use crate::config::Settings;
use crate::error::Error as CoreError;
use crate::model::{self, ActiveFilter, IdFilter, KeyFilter, KeyRecord, NewKey, Usage};
use crate::secret::SecretString;
use crate::service::Service;

type CoreResult<T> = std::result::Result<T, CoreError>;

/// Async rejections carry only a napi status, so the stable code leads the message.
fn to_js(e: CoreError) -> napi::Error {
    napi::Error::new(Status::GenericFailure, e.coded_message())
}

/// Sync throws also carry the code as `err.code`.
fn to_js_sync(e: CoreError) -> napi::Error<String> {
    napi::Error::new(e.code().to_string(), e.coded_message())
}

fn napi_fail(e: napi::Error) -> CoreError {
    CoreError::Internal(e.reason.clone())
}

fn invalid(msg: String) -> CoreError {
    CoreError::InvalidArgument(msg)
}

fn number(v: Unknown, name: &str) -> CoreResult<f64> {
    match v.get_type().map_err(napi_fail)? {
        ValueType::Number => unsafe { v.cast::<f64>() }.map_err(napi_fail),
        _ => Err(invalid(format!("{name} must be a number"))),
    }
}

fn string(v: Unknown, name: &str) -> CoreResult<String> {
    match v.get_type().map_err(napi_fail)? {
        ValueType::String => unsafe { v.cast::<String>() }.map_err(napi_fail),
        _ => Err(invalid(format!("{name} must be a string"))),
    }
}

fn boolean(v: Unknown, name: &str) -> CoreResult<bool> {
    match v.get_type().map_err(napi_fail)? {
        ValueType::Boolean => unsafe { v.cast::<bool>() }.map_err(napi_fail),
        _ => Err(invalid(format!("{name} must be a boolean"))),
    }
}

/// `undefined` → no filter, `null` → IS NULL, a number → equality.
fn id_filter(v: Option<Unknown>, name: &str) -> CoreResult<IdFilter> {
    match v {
        None => Ok(IdFilter::Any),
        Some(u) if u.get_type().map_err(napi_fail)? == ValueType::Null => Ok(IdFilter::Null),
        Some(u) => Ok(IdFilter::Eq(model::id(name, number(u, name)?)?)),
    }
}

/// An optional positional id (`number | undefined`; `null` accepted as "none").
fn optional_id(v: Unknown, name: &str) -> CoreResult<Option<i64>> {
    match v.get_type().map_err(napi_fail)? {
        ValueType::Undefined | ValueType::Null => Ok(None),
        _ => Ok(Some(model::stored_id(name, number(v, name)?)?)),
    }
}

fn options_object<'a>(v: Option<Unknown<'a>>, name: &str) -> CoreResult<Option<Object<'a>>> {
    let Some(u) = v else { return Ok(None) };
    match u.get_type().map_err(napi_fail)? {
        ValueType::Undefined | ValueType::Null => Ok(None),
        ValueType::Object => Ok(Some(unsafe { u.cast::<Object>() }.map_err(napi_fail)?)),
        _ => Err(invalid(format!("{name} must be an object"))),
    }
}

fn field<'a>(obj: &Object<'a>, key: &str) -> CoreResult<Option<Unknown<'a>>> {
    obj.get::<Unknown>(key).map_err(napi_fail)
}

fn key_filter(options: &Option<Object>, with_active: bool) -> CoreResult<KeyFilter> {
    let Some(o) = options else {
        return Ok(KeyFilter::default());
    };
    let is_active = if with_active {
        match field(o, "isActive")? {
            None => ActiveFilter::Any,
            Some(u) if u.get_type().map_err(napi_fail)? == ValueType::Null => ActiveFilter::Null,
            Some(u) => ActiveFilter::Is(boolean(u, "isActive")?),
        }
    } else {
        ActiveFilter::Any
    };
    Ok(KeyFilter {
        ai_model_id: id_filter(field(o, "aiModelId")?, "aiModelId")?,
        external_api_id: id_filter(field(o, "externalApiId")?, "externalApiId")?,
        is_active,
    })
}

/// Start the future on the runtime, or hand back an already rejected promise.
fn promise<'e, T, F>(env: &'e Env, prepared: CoreResult<F>) -> Result<PromiseRaw<'e, T>>
where
    T: ToNapiValue + Send + 'static,
    F: Future<Output = CoreResult<T>> + Send + 'static,
{
    match prepared {
        Ok(fut) => env.spawn_future(async move { fut.await.map_err(to_js) }),
        Err(e) => env.spawn_future(async move { Err::<T, _>(to_js(e)) }),
    }
}

/// A decrypted API key on its way to JavaScript; zeroized once the JS string exists.
pub struct PlainApiKey(SecretString);

impl ToNapiValue for PlainApiKey {
    unsafe fn to_napi_value(env: napi::sys::napi_env, val: Self) -> Result<napi::sys::napi_value> {
        unsafe { <&str as ToNapiValue>::to_napi_value(env, val.0.expose()) }
    }
}

/// Budget limits. `petMonth` is spelled as in PolicySynth's documented type.
#[napi(object)]
#[allow(dead_code)] // declared for index.d.ts
pub struct PsPrivateAccessStoreConfiguration {
    #[napi(ts_type = "{ perDay: number; petMonth: number; total: number }")]
    pub max_budget: Value,
    #[napi(ts_type = "{ daily: number; monthly: number }")]
    pub email_notification_budget_thresholds: Value,
}

/// Usage counters of a key.
#[napi(object)]
#[derive(Clone)]
pub struct PsPrivateAccessStoreUsage {
    pub daily_use: f64,
    pub monthly_use: f64,
    pub total_use: f64,
}

impl From<Usage> for PsPrivateAccessStoreUsage {
    fn from(u: Usage) -> Self {
        PsPrivateAccessStoreUsage {
            daily_use: u.daily_use,
            monthly_use: u.monthly_use,
            total_use: u.total_use,
        }
    }
}

/// Filters of `getApiKeys`. Absent or `undefined` adds no filter; `null` matches SQL NULL.
#[napi(object)]
#[allow(dead_code)] // declared for index.d.ts
pub struct GetApiKeysOptions {
    #[napi(ts_type = "number | null")]
    pub ai_model_id: Option<Value>,
    #[napi(ts_type = "number | null")]
    pub external_api_id: Option<Value>,
    #[napi(ts_type = "boolean | null")]
    pub is_active: Option<Value>,
}

/// Options of `incrementUsageAndGetApiKey` (`GetApiKeysOptions` plus `incrementAmount`,
/// default 1). `isActive` is accepted and ignored: only active keys are ever served.
#[napi(object)]
#[allow(dead_code)] // declared for index.d.ts
pub struct IncrementUsageOptions {
    #[napi(ts_type = "number | null")]
    pub ai_model_id: Option<Value>,
    #[napi(ts_type = "number | null")]
    pub external_api_id: Option<Value>,
    #[napi(ts_type = "boolean | null")]
    pub is_active: Option<Value>,
    pub increment_amount: Option<f64>,
}

/// The result of `encryptApiKey`: the two stored strings.
#[napi(object)]
pub struct EncryptedApiKey {
    pub encrypted_api_key: String,
    pub encrypted_aes_key: String,
}

/// Explicit set-up; every option left out falls back to the environment.
#[napi(object)]
#[allow(dead_code)] // declared for index.d.ts
pub struct PsPrivateAccessStoreOptions {
    /// `postgres://…`, `postgresql://…` or `sqlite:path`. Overrides every database variable.
    pub database_url: Option<String>,
    /// SQLite file used when no PostgreSQL is configured (default `ps_private_access_store.sqlite`).
    pub sqlite_path: Option<String>,
    /// RSA public key PEM (SPKI or PKCS#1); default `RSA_API_ENCRYPTION_PUBLIC_KEY`.
    pub public_key: Option<String>,
    /// RSA private key PEM (PKCS#8 or PKCS#1); default `RSA_API_ENCRYPTION_PRIVATE_KEY`.
    pub private_key: Option<String>,
    /// Pool size (default `DB_POOL_MAX`, 5).
    pub pool_max: Option<u32>,
    /// Connections kept open (default `DB_POOL_MIN`, 5).
    pub pool_min: Option<u32>,
    /// Pool acquire timeout (default `DB_POOL_ACQUIRE_MS`, 30000).
    pub acquire_timeout_ms: Option<u32>,
    /// Idle connection timeout (default `DB_POOL_IDLE_MS`, 10000).
    pub idle_timeout_ms: Option<u32>,
    /// IANA timezone of the daily and monthly budget periods (default `PSPAS_TIMEZONE`, else UTC).
    pub timezone: Option<String>,
    /// Refuse calls over budget (default `PSPAS_ENFORCE_BUDGETS`, else `true`); `false` keeps
    /// the original's count-only behaviour.
    pub enforce_budgets: Option<bool>,
    /// Cache unwrapped AES data keys in memory (default `PSPAS_KEY_CACHE`, else `true`): the
    /// RSA private operation then runs once per stored key instead of once per call. Entries
    /// are zeroized on eviction. `false` keeps no data key beyond a call.
    pub key_cache: Option<bool>,
    /// At most this many cached data keys (default `PSPAS_KEY_CACHE_MAX_ENTRIES`, 1000).
    pub key_cache_max_entries: Option<u32>,
    /// A cached data key lives at most this long (default `PSPAS_KEY_CACHE_MAX_AGE_MS`, 600000).
    pub key_cache_max_age_ms: Option<u32>,
}

/// Minimal shape of the associated PolicySynth group.
#[napi(object)]
#[allow(dead_code)] // declared for index.d.ts
pub struct YpGroupData {
    pub id: f64,
    pub name: Option<String>,
}

/// Minimal shape of the associated PolicySynth user.
#[napi(object)]
#[allow(dead_code)] // declared for index.d.ts
pub struct YpUserData {
    pub id: f64,
    pub name: Option<String>,
    pub email: Option<String>,
}

/// A budget event, emitted exactly once per key, period and kind across all processes, to
/// the listeners of the process whose call caused it.
#[napi(object, use_nullable = true)]
pub struct PsBudgetEvent {
    pub key_id: i64,
    pub group_id: i64,
    pub ai_model_id: Option<i64>,
    pub external_api_id: Option<i64>,
    #[napi(
        ts_type = "'dailyThreshold' | 'monthlyThreshold' | 'dailyLimit' | 'monthlyLimit' | 'totalLimit'"
    )]
    pub kind: String,
    /// The counter after the granted call (thresholds) or before the refused one (limits).
    pub used: f64,
    /// The budget limit of that counter (`maxBudget.perDay`, `.petMonth` or `.total`).
    pub limit: f64,
    /// Start of the day or month the event belongs to; `null` for the total budget.
    pub period_start: Option<DateTime<Utc>>,
}

impl From<&BudgetEvent> for PsBudgetEvent {
    fn from(e: &BudgetEvent) -> Self {
        PsBudgetEvent {
            key_id: e.key_id,
            group_id: e.group_id,
            ai_model_id: e.ai_model_id,
            external_api_id: e.external_api_id,
            kind: e.kind.as_str().to_owned(),
            used: e.used,
            limit: e.limit,
            period_start: e.period_start,
        }
    }
}

/// One budget period of a key: `limit` and `remaining` are `null` when there is no limit.
#[napi(object, use_nullable = true)]
pub struct PsBudgetPeriodStatus {
    pub used: f64,
    pub limit: Option<f64>,
    pub remaining: Option<f64>,
    /// Start of the current day or month (configured timezone); `null` for the total.
    pub period_start: Option<DateTime<Utc>>,
}

/// Where a key stands against its budgets right now: tells "over budget" from "no key".
#[napi(object)]
pub struct PsBudgetStatus {
    pub id: i64,
    pub is_active: bool,
    /// Whether budgets are enforced (see `configure({ enforceBudgets })`).
    pub enforced: bool,
    pub daily: PsBudgetPeriodStatus,
    pub monthly: PsBudgetPeriodStatus,
    pub total: PsBudgetPeriodStatus,
}

impl From<BudgetStatus> for PsBudgetStatus {
    fn from(s: BudgetStatus) -> Self {
        let p = |p: budget::PeriodStatus| PsBudgetPeriodStatus {
            used: p.used,
            limit: p.limit,
            remaining: p.remaining,
            period_start: p.period_start,
        };
        PsBudgetStatus {
            id: s.id,
            is_active: s.is_active,
            enforced: s.enforced,
            daily: p(s.daily),
            monthly: p(s.monthly),
            total: p(s.total),
        }
    }
}

struct Listener {
    id: u64,
    /// The JS environment (jest may load the addon in several contexts of one thread).
    env: usize,
    callback: FunctionRef<PsBudgetEvent, Unknown<'static>>,
}

thread_local! {
    static LISTENERS: RefCell<Vec<Listener>> = const { RefCell::new(Vec::new()) };
}
static NEXT_LISTENER: AtomicU64 = AtomicU64::new(1);

/// Call this environment's listeners with each event, on the JS thread. A listener that
/// throws does not affect the call or the other listeners.
fn deliver(env: &Env, events: &[BudgetEvent]) {
    if events.is_empty() {
        return;
    }
    let callbacks: Vec<_> = LISTENERS.with(|l| {
        l.borrow()
            .iter()
            .filter(|x| x.env == env.raw() as usize)
            .filter_map(|x| x.callback.borrow_back(env).ok())
            .collect()
    });
    for event in events {
        for f in &callbacks {
            if f.call(PsBudgetEvent::from(event)).is_err() {
                let mut exception = std::ptr::null_mut();
                unsafe { napi::sys::napi_get_and_clear_last_exception(env.raw(), &mut exception) };
            }
        }
    }
}

/// Customers' API keys, envelope-encrypted at rest, scoped to groups and metered per use.
///
/// Instances are records of `ps_private_access_store` with the documented snake_case
/// attributes (getters, as on a Sequelize instance; NULL columns read as `null` like there);
/// they never hold a plaintext key. All operations are static.
#[napi]
pub struct PsPrivateAccessStore {
    record: KeyRecord,
}

impl From<KeyRecord> for PsPrivateAccessStore {
    fn from(record: KeyRecord) -> Self {
        PsPrivateAccessStore { record }
    }
}

fn blocked<'e>(env: &'e Env, name: &'static str) -> Result<PromiseRaw<'e, ()>> {
    let message = format!("Warning: Attempted to use unsecured method {name}. Use incrementUsageAndGetApiKey instead.");
    let console: Object = env.get_global()?.get_named_property("console")?;
    if let Some(warn) = console.get::<Function<String, Unknown>>("warn")? {
        warn.call(message)?;
    }
    promise::<(), std::future::Ready<CoreResult<()>>>(env, Err(CoreError::NotAllowed(name)))
}

#[napi]
impl PsPrivateAccessStore {
    /// Primary key.
    #[napi(getter)]
    pub fn id(&self) -> i64 {
        self.record.id
    }

    /// ID of the group this key is associated with.
    #[napi(getter, js_name = "group_id")]
    pub fn group_id(&self) -> i64 {
        self.record.group_id
    }

    /// ID of the user who added the key.
    #[napi(getter, js_name = "user_id")]
    pub fn user_id(&self) -> i64 {
        self.record.user_id
    }

    /// Optional: ID of the AI model this key is for.
    #[napi(getter, js_name = "ai_model_id", ts_return_type = "number | undefined")]
    pub fn ai_model_id(&self) -> Option<i64> {
        self.record.ai_model_id
    }

    /// Optional: ID of the external API this key is for.
    #[napi(
        getter,
        js_name = "external_api_id",
        ts_return_type = "number | undefined"
    )]
    pub fn external_api_id(&self) -> Option<i64> {
        self.record.external_api_id
    }

    /// The API key, AES-256-GCM encrypted: `hex(iv):hex(tag):hex(ciphertext)`.
    #[napi(getter, js_name = "encrypted_api_key")]
    pub fn encrypted_api_key(&self) -> String {
        self.record.encrypted_api_key.clone()
    }

    /// The AES key, RSA-OAEP encrypted, base64.
    #[napi(getter, js_name = "encrypted_aes_key")]
    pub fn encrypted_aes_key(&self) -> String {
        self.record.encrypted_aes_key.clone()
    }

    /// Budget and notification thresholds, as stored.
    #[napi(getter, ts_return_type = "PsPrivateAccessStoreConfiguration")]
    pub fn configuration(&self) -> Value {
        self.record.configuration.clone()
    }

    /// Usage counters (daily, monthly, total).
    #[napi(getter)]
    pub fn usage(&self) -> PsPrivateAccessStoreUsage {
        self.record.usage.into()
    }

    /// Creation timestamp.
    #[napi(getter, js_name = "created_at", ts_return_type = "Date")]
    pub fn created_at(&self) -> Option<DateTime<Utc>> {
        self.record.created_at
    }

    /// Last update timestamp.
    #[napi(getter, js_name = "updated_at", ts_return_type = "Date")]
    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.record.updated_at
    }

    /// Last time this key was used.
    #[napi(getter, js_name = "last_used_at", ts_return_type = "Date | undefined")]
    pub fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.record.last_used_at
    }

    /// Whether this key is currently active.
    #[napi(getter, js_name = "is_active")]
    pub fn is_active(&self) -> bool {
        self.record.is_active
    }

    /// (Association) The group; not loaded by this package, always `undefined`.
    #[napi(getter, js_name = "Group", ts_return_type = "YpGroupData | undefined")]
    pub fn group(&self) -> Undefined {}

    /// (Association) The user; not loaded by this package, always `undefined`.
    #[napi(getter, js_name = "User", ts_return_type = "YpUserData | undefined")]
    pub fn user(&self) -> Undefined {}

    /// The record's attributes as a plain object (what `JSON.stringify` uses).
    #[napi(js_name = "toJSON", ts_return_type = "Record<string, unknown>")]
    pub fn to_json(&self, env: &Env) -> Result<Object<'_>> {
        let r = &self.record;
        let mut o = Object::new(env)?;
        o.set("id", r.id)?;
        o.set("group_id", r.group_id)?;
        o.set("user_id", r.user_id)?;
        o.set("ai_model_id", r.ai_model_id)?;
        o.set("external_api_id", r.external_api_id)?;
        o.set("encrypted_api_key", r.encrypted_api_key.as_str())?;
        o.set("encrypted_aes_key", r.encrypted_aes_key.as_str())?;
        o.set("configuration", &r.configuration)?;
        o.set("usage", PsPrivateAccessStoreUsage::from(r.usage))?;
        o.set("created_at", r.created_at)?;
        o.set("updated_at", r.updated_at)?;
        o.set("last_used_at", r.last_used_at)?;
        o.set("is_active", r.is_active)?;
        Ok(o)
    }

    /// Set up explicitly (database URL, PEM keys, pool). Options left out come from the
    /// environment. Replaces the current set-up; its pool is closed in the background.
    #[napi(catch_unwind, ts_args_type = "options?: PsPrivateAccessStoreOptions")]
    pub fn configure(options: Option<Unknown>) -> Result<(), String> {
        let settings = settings_from(options).map_err(to_js_sync)?;
        if let Some(old) = Service::configure(settings) {
            napi::bindgen_prelude::spawn(async move { old.close().await });
        }
        Ok(())
    }

    /// Close the database pool so the process can exit; the next call reconnects.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close(env: &Env) -> Result<PromiseRaw<'_, ()>> {
        let service = Service::global();
        promise(
            env,
            Ok(async move {
                service.close().await;
                Ok(())
            }),
        )
    }

    /// Encrypts an API key using AES-256-GCM with a random key, and encrypts that key with the
    /// RSA public key (`RSA_API_ENCRYPTION_PUBLIC_KEY`). Synchronous, as in the original.
    #[napi(
        catch_unwind,
        ts_args_type = "apiKey: string",
        ts_return_type = "{ encryptedApiKey: string; encryptedAesKey: string }"
    )]
    pub fn encrypt_api_key(api_key: Unknown) -> Result<EncryptedApiKey, String> {
        let api_key = SecretString::new(string(api_key, "apiKey").map_err(to_js_sync)?);
        let sealed = Service::global()
            .encrypt_api_key(api_key.expose())
            .map_err(to_js_sync)?;
        Ok(EncryptedApiKey {
            encrypted_api_key: sealed.encrypted_api_key,
            encrypted_aes_key: sealed.encrypted_aes_key,
        })
    }

    /// Decrypts an API key with the RSA private key (`RSA_API_ENCRYPTION_PRIVATE_KEY`).
    /// Synchronous, as in the original.
    #[napi(
        catch_unwind,
        ts_args_type = "encryptedApiKey: string, encryptedAesKey: string",
        ts_return_type = "string"
    )]
    pub fn decrypt_api_key(
        encrypted_api_key: Unknown,
        encrypted_aes_key: Unknown,
    ) -> Result<PlainApiKey, String> {
        let api = string(encrypted_api_key, "encryptedApiKey").map_err(to_js_sync)?;
        let aes = string(encrypted_aes_key, "encryptedAesKey").map_err(to_js_sync)?;
        Service::global()
            .decrypt_api_key(&api, &aes)
            .map(PlainApiKey)
            .map_err(to_js_sync)
    }

    /// Adds a new pre-encrypted API key to the store (usage zero, active).
    #[napi(
        catch_unwind,
        ts_args_type = "groupId: number, userId: number, aiModelId: number | undefined, externalApiId: number | undefined, encryptedApiKey: string, encryptedAesKey: string, configuration: PsPrivateAccessStoreConfiguration",
        ts_return_type = "Promise<PsPrivateAccessStore>"
    )]
    #[allow(clippy::too_many_arguments)]
    pub fn add_pre_encrypted_key<'e>(
        env: &'e Env,
        group_id: Unknown,
        user_id: Unknown,
        ai_model_id: Unknown,
        external_api_id: Unknown,
        encrypted_api_key: Unknown,
        encrypted_aes_key: Unknown,
        configuration: Unknown,
    ) -> Result<PromiseRaw<'e, PsPrivateAccessStore>> {
        let prepared = (|| {
            let key = NewKey {
                group_id: model::stored_id("groupId", number(group_id, "groupId")?)?,
                user_id: model::stored_id("userId", number(user_id, "userId")?)?,
                ai_model_id: optional_id(ai_model_id, "aiModelId")?,
                external_api_id: optional_id(external_api_id, "externalApiId")?,
                encrypted_api_key: string(encrypted_api_key, "encryptedApiKey")?,
                encrypted_aes_key: string(encrypted_aes_key, "encryptedAesKey")?,
                configuration: match configuration.get_type().map_err(napi_fail)? {
                    ValueType::Object => unsafe { configuration.cast::<Value>() }
                        .map_err(|e| CoreError::InvalidConfiguration(e.reason.clone()))?,
                    _ => {
                        return Err(CoreError::InvalidConfiguration(
                            "configuration must be an object".into(),
                        ))
                    }
                },
            };
            let service = Service::global();
            Ok(async move {
                service
                    .add_pre_encrypted_key(key)
                    .await
                    .map(PsPrivateAccessStore::from)
            })
        })();
        promise(env, prepared)
    }

    /// Retrieves the group's keys (encrypted), optionally filtered, ordered
    /// `is_active DESC, id ASC`.
    #[napi(
        catch_unwind,
        ts_args_type = "groupId: number, options?: GetApiKeysOptions",
        ts_return_type = "Promise<PsPrivateAccessStore[]>"
    )]
    pub fn get_api_keys<'e>(
        env: &'e Env,
        group_id: Unknown,
        options: Option<Unknown>,
    ) -> Result<PromiseRaw<'e, Vec<PsPrivateAccessStore>>> {
        let prepared = (|| {
            let group_id = model::id("groupId", number(group_id, "groupId")?)?;
            let filter = key_filter(&options_object(options, "options")?, true)?;
            let service = Service::global();
            Ok(async move {
                let rows = service.get_api_keys(group_id, filter).await?;
                Ok(rows
                    .into_iter()
                    .map(PsPrivateAccessStore::from)
                    .collect::<Vec<_>>())
            })
        })();
        promise(env, prepared)
    }

    /// Atomically adds `incrementAmount` (default 1) to the usage of the group's first active
    /// matching key with budget room and returns that key decrypted; `null` when there is none
    /// (see `getBudgetStatus` for why). A key that cannot be decrypted rejects and counts
    /// nothing.
    #[napi(
        catch_unwind,
        ts_args_type = "groupId: number, options?: IncrementUsageOptions",
        ts_return_type = "Promise<string | null>"
    )]
    pub fn increment_usage_and_get_api_key<'e>(
        env: &'e Env,
        group_id: Unknown,
        options: Option<Unknown>,
    ) -> Result<PromiseRaw<'e, Option<PlainApiKey>>> {
        let prepared = (|| {
            let group_id = model::id("groupId", number(group_id, "groupId")?)?;
            let options = options_object(options, "options")?;
            let filter = key_filter(&options, false)?;
            if let Some(u) = options
                .as_ref()
                .map(|o| field(o, "isActive"))
                .transpose()?
                .flatten()
            {
                if u.get_type().map_err(napi_fail)? != ValueType::Null {
                    boolean(u, "isActive")?;
                }
            }
            let amount = match options
                .as_ref()
                .map(|o| field(o, "incrementAmount"))
                .transpose()?
                .flatten()
            {
                None => 1.0,
                Some(u) => model::amount(number(u, "incrementAmount")?)?,
            };
            let service = Service::global();
            let pem = service.private_key_pem();
            Ok(async move {
                service
                    .increment_usage_and_get_api_key(group_id, filter, amount, pem)
                    .await
            })
        })();
        match prepared {
            Ok(fut) => env.spawn_future_with_callback(
                async move { fut.await.map_err(to_js) },
                |env, (key, events)| {
                    deliver(env, &events);
                    Ok(key.map(PlainApiKey))
                },
            ),
            Err(e) => promise(
                env,
                Err::<std::future::Ready<CoreResult<Option<PlainApiKey>>>, _>(e),
            ),
        }
    }

    /// Subscribe to budget events (thresholds crossed, first refusals per period) caused by
    /// this process's calls. Returns the function that unsubscribes.
    #[napi(
        catch_unwind,
        ts_args_type = "listener: (event: PsBudgetEvent) => void",
        ts_return_type = "() => void"
    )]
    pub fn on_budget_event<'e>(
        env: &'e Env,
        listener: Unknown,
    ) -> Result<Function<'e, (), ()>, String> {
        if listener.get_type().map_err(|e| to_js_sync(napi_fail(e)))? != ValueType::Function {
            return Err(to_js_sync(invalid("listener must be a function".into())));
        }
        let sync = |e: napi::Error| to_js_sync(napi_fail(e));
        let f: Function<PsBudgetEvent, Unknown<'static>> =
            unsafe { listener.cast() }.map_err(sync)?;
        let id = NEXT_LISTENER.fetch_add(1, Ordering::Relaxed);
        let callback = f.create_ref().map_err(sync)?;
        LISTENERS.with(|l| {
            l.borrow_mut().push(Listener {
                id,
                env: env.raw() as usize,
                callback,
            })
        });
        env.create_function_from_closure("unsubscribe", move |_| {
            LISTENERS.with(|l| l.borrow_mut().retain(|x| x.id != id));
            Ok(())
        })
        .map_err(sync)
    }

    /// Where a key stands against its budgets now (per period: used, limit, remaining, period
    /// start), and whether it is active: tells "over budget" from "no key". `null` for an
    /// unknown id.
    #[napi(
        catch_unwind,
        ts_args_type = "id: number",
        ts_return_type = "Promise<PsBudgetStatus | null>"
    )]
    pub fn get_budget_status<'e>(
        env: &'e Env,
        id: Unknown,
    ) -> Result<PromiseRaw<'e, Option<PsBudgetStatus>>> {
        let prepared = (|| {
            let id = model::id("id", number(id, "id")?)?;
            let service = Service::global();
            Ok(async move {
                Ok(service
                    .get_budget_status(id)
                    .await?
                    .map(PsBudgetStatus::from))
            })
        })();
        promise(env, prepared)
    }

    /// Sets the active status of a key; `true` if a row was updated.
    #[napi(
        catch_unwind,
        ts_args_type = "id: number, isActive: boolean",
        ts_return_type = "Promise<boolean>"
    )]
    pub fn set_key_status<'e>(
        env: &'e Env,
        id: Unknown,
        is_active: Unknown,
    ) -> Result<PromiseRaw<'e, bool>> {
        let prepared = (|| {
            let id = model::id("id", number(id, "id")?)?;
            let active = boolean(is_active, "isActive")?;
            let service = Service::global();
            Ok(async move { service.set_key_status(id, active).await })
        })();
        promise(env, prepared)
    }

    /// The usage counters of a key, or `null` for an unknown id.
    #[napi(
        catch_unwind,
        ts_args_type = "id: number",
        ts_return_type = "Promise<PsPrivateAccessStoreUsage | null>"
    )]
    pub fn get_usage<'e>(
        env: &'e Env,
        id: Unknown,
    ) -> Result<PromiseRaw<'e, Option<PsPrivateAccessStoreUsage>>> {
        let prepared = (|| {
            let id = model::id("id", number(id, "id")?)?;
            let service = Service::global();
            Ok(async move {
                Ok(service
                    .get_usage(id)
                    .await?
                    .map(PsPrivateAccessStoreUsage::from))
            })
        })();
        promise(env, prepared)
    }

    /// Checks that an encrypted API key is `hex:hex:hex` with a 12/16-byte IV and 16-byte tag.
    #[napi(catch_unwind)]
    pub fn is_valid_encrypted_format(encrypted_api_key: String) -> bool {
        crate::envelope::is_valid_encrypted_format(&encrypted_api_key)
    }

    /// Checks that a string is non-empty, even-length hexadecimal.
    #[napi(catch_unwind)]
    pub fn is_valid_hex(str: String) -> bool {
        crate::envelope::is_valid_hex(&str)
    }

    /// Checks that a string is canonical standard base64.
    #[napi(catch_unwind)]
    pub fn is_valid_base64(str: String) -> bool {
        crate::envelope::is_valid_base64(&str)
    }

    /// Blocked, as in the original: warns and rejects. Use `incrementUsageAndGetApiKey`.
    #[napi(
        catch_unwind,
        ts_args_type = "...args: unknown[]",
        ts_return_type = "Promise<never>"
    )]
    pub fn find_all(env: &Env) -> Result<PromiseRaw<'_, ()>> {
        blocked(env, "findAll")
    }

    /// Blocked, as in the original: warns and rejects. Use `incrementUsageAndGetApiKey`.
    #[napi(
        catch_unwind,
        ts_args_type = "...args: unknown[]",
        ts_return_type = "Promise<never>"
    )]
    pub fn find_one(env: &Env) -> Result<PromiseRaw<'_, ()>> {
        blocked(env, "findOne")
    }

    /// Blocked, as in the original: warns and rejects. Use `incrementUsageAndGetApiKey`.
    #[napi(
        catch_unwind,
        ts_args_type = "...args: unknown[]",
        ts_return_type = "Promise<never>"
    )]
    pub fn find_by_pk(env: &Env) -> Result<PromiseRaw<'_, ()>> {
        blocked(env, "findByPk")
    }
}

fn settings_from(options: Option<Unknown>) -> CoreResult<Settings> {
    let Some(o) = options_object(options, "options")? else {
        return Ok(Settings::default());
    };
    let text = |k: &str| -> CoreResult<Option<String>> {
        match field(&o, k)? {
            None => Ok(None),
            Some(u) if u.get_type().map_err(napi_fail)? == ValueType::Null => Ok(None),
            Some(u) => string(u, k)
                .map(Some)
                .map_err(|e| CoreError::Config(e.to_string())),
        }
    };
    let count = |k: &str| -> CoreResult<Option<u64>> {
        match field(&o, k)? {
            None => Ok(None),
            Some(u) if u.get_type().map_err(napi_fail)? == ValueType::Null => Ok(None),
            Some(u) => {
                let n = number(u, k).map_err(|e| CoreError::Config(e.to_string()))?;
                if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= u32::MAX as f64 {
                    Ok(Some(n as u64))
                } else {
                    Err(CoreError::Config(format!(
                        "{k} must be a non-negative integer"
                    )))
                }
            }
        }
    };
    let flag = |k: &str| -> CoreResult<Option<bool>> {
        match field(&o, k)? {
            None => Ok(None),
            Some(u) if u.get_type().map_err(napi_fail)? == ValueType::Null => Ok(None),
            Some(u) => boolean(u, k)
                .map(Some)
                .map_err(|e| CoreError::Config(e.to_string())),
        }
    };
    Ok(Settings {
        database_url: text("databaseUrl")?.map(SecretString::new),
        sqlite_path: text("sqlitePath")?.map(Into::into),
        public_key_pem: text("publicKey")?.map(SecretString::new),
        private_key_pem: text("privateKey")?.map(SecretString::new),
        pool_max: count("poolMax")?.map(|v| v as u32),
        pool_min: count("poolMin")?.map(|v| v as u32),
        acquire_timeout_ms: count("acquireTimeoutMs")?,
        idle_timeout_ms: count("idleTimeoutMs")?,
        timezone: match text("timezone")? {
            Some(tz) => Some(budget::parse_timezone(&tz).map(|_| tz)?),
            None => None,
        },
        enforce_budgets: flag("enforceBudgets")?,
        key_cache: flag("keyCache")?,
        key_cache_max_entries: count("keyCacheMaxEntries")?,
        key_cache_max_age_ms: count("keyCacheMaxAgeMs")?,
    })
}

/// The runtime of the async methods: `PSPAS_WORKER_THREADS` workers (default 1). The work per
/// call is a database round trip and microseconds of AES once the data key is cached, so one
/// worker spares the cross-thread wake-ups that dominated the profile (see BENCHMARKS.md); more
/// workers help only when many first-use RSA unwraps run at once. If the runtime cannot be
/// built, napi's default runtime is used.
#[napi_derive::module_init]
fn init_runtime() {
    let workers = std::env::var("PSPAS_WORKER_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0);
    if let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.unwrap_or(1))
        .enable_all()
        .build()
    {
        napi::bindgen_prelude::create_custom_tokio_runtime(rt);
    }
}
