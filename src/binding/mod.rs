//! The Node binding: every `#[napi]` item, and nothing else touches napi.
//!
//! This layer is deliberately thin. The package's public entry is the JavaScript layer
//! (`lib/`, compiled to `dist/`), which runs in the caller's realm: it reads the
//! caller's `process.env`, checks argument types, builds records, `Date`s and `Error`s and keeps
//! the budget-event listeners. It calls the items here with typed values only:
//!
//! - [`store`]: `NativeStore`, one handle per database set-up, with the async operations;
//! - [`events`]: the budget event outbox's operations on `NativeStore` (claim, ack, list,
//!   retry);
//! - [`crypto`]: the synchronous envelope functions and format checks;
//! - [`options`]: the settings table and `configure()` options → core settings;
//! - [`records`]: what crosses back (records, usage, status, events) as JSON text, so the
//!   JS layer parses it into objects of the caller's realm.
//!
//! Errors cross as `"<PSPAS_CODE>: <message>"` (one conversion, [`to_js`]); the JS layer turns
//! that into an `Error` of the caller's realm with `err.code` set and the original's sentence
//! as `err.message`.

#![allow(clippy::new_without_default)]

#[cfg_attr(test, allow(dead_code))] // registered with Node by napi, unused by `cargo test`
pub(crate) mod crypto;
mod drive;
mod events;
#[cfg_attr(test, allow(dead_code))] // settingsTable is registered with Node by napi
mod options;
mod records;
mod store;

use napi::bindgen_prelude::*;

use crate::error::Error as CoreError;

pub(crate) type CoreResult<T> = std::result::Result<T, CoreError>;

/// The one conversion of a core error to napi: the stable code leads the message.
pub(crate) fn to_js(e: CoreError) -> napi::Error {
    napi::Error::new(Status::GenericFailure, e.coded_message())
}

/// Run `fut` (its first poll on this thread, the rest on the runtime: see [`drive`]) and hand
/// back its promise; errors are converted by [`to_js`].
pub(crate) fn promise<'e, T, F>(env: &'e Env, fut: F) -> Result<PromiseRaw<'e, T>>
where
    T: ToNapiValue + Send + 'static,
    F: std::future::Future<Output = CoreResult<T>> + Send + 'static,
{
    drive::run(env, fut)
}

/// The runtime of the async methods: `PSPAS_WORKER_THREADS` workers (default 1). The work per
/// call is a database round trip and microseconds of AES once the data key is cached, so one
/// worker spares the cross-thread wake-ups that dominated the profile (see docs/benchmarks.md); more
/// workers help only when many first-use RSA unwraps run at once. If the runtime cannot be
/// built, napi's default runtime is used.
#[napi_derive::module_init]
fn init_runtime() {
    use crate::settings::{ProcessEnv, Resolver, Settings, NO_CORE_DUMPS, WORKER_THREADS};
    // Best effort: a failure leaves the process as it was, which `coreDumpsExcluded` reports.
    if Resolver::new(&Settings::default(), &ProcessEnv)
        .switch(&NO_CORE_DUMPS)
        .unwrap_or(false)
    {
        let _ = crate::secret::exclude_from_core_dumps();
    }
    let workers = Resolver::new(&Settings::default(), &ProcessEnv)
        .number::<usize>(&WORKER_THREADS)
        .ok()
        .filter(|n| *n > 0);
    if let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.unwrap_or(1))
        .enable_all()
        .build()
    {
        napi::bindgen_prelude::create_custom_tokio_runtime(rt);
    }
}
