//! The budget event outbox's operations on [`NativeStore`] (see [`crate::outbox`]): events
//! cross as JSON text (times in epoch ms) for the JS layer to make its `Date`s.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::store::NativeStore;
use super::{promise, records};
use crate::outbox::{self, EventState};

#[napi]
impl NativeStore {
    /// Lease up to `limit` pending budget events to `consumer` for `leaseMs`, oldest first,
    /// as a JSON array; `maxAttempts`: the configured one when absent.
    #[napi(catch_unwind, ts_return_type = "Promise<string>")]
    pub fn claim_events<'e>(
        &self,
        env: &'e Env,
        consumer: String,
        limit: f64,
        lease_ms: f64,
        max_attempts: Option<f64>,
    ) -> Result<PromiseRaw<'e, String>> {
        let service = self.service();
        promise(env, async move {
            let consumer = outbox::consumer(consumer)?;
            let limit = outbox::count("limit", limit, outbox::MAX_BATCH)?;
            let lease = crate::model::ttl_ms(lease_ms).map_err(|_| {
                crate::error::Error::invalid_argument(
                    "leaseMs must be a whole number of milliseconds from 1 to 2592000000 (30 days)",
                )
            })?;
            let max_attempts = max_attempts
                .map(|n| outbox::count("maxAttempts", n, outbox::MAX_ATTEMPTS))
                .transpose()?;
            let events = service
                .claim_budget_events(consumer, limit, lease, max_attempts)
                .await?;
            Ok(records::json(&events))
        })
    }

    /// Ack budget events by id (the decimal strings `claimEvents` returned); the number acked.
    #[napi(catch_unwind, ts_return_type = "Promise<number>")]
    pub fn ack_events<'e>(
        &self,
        env: &'e Env,
        event_ids: Vec<String>,
    ) -> Result<PromiseRaw<'e, f64>> {
        let service = self.service();
        promise(env, async move {
            let ids = outbox::event_ids(&event_ids)?;
            Ok(service.ack_budget_events(&ids).await? as f64)
        })
    }

    /// The outbox, newest first, as a JSON array: `state` one of 'pending', 'parked',
    /// 'acked' (absent: all), at most `limit`.
    #[napi(catch_unwind, ts_return_type = "Promise<string>")]
    pub fn list_events<'e>(
        &self,
        env: &'e Env,
        state: Option<String>,
        limit: f64,
    ) -> Result<PromiseRaw<'e, String>> {
        let service = self.service();
        promise(env, async move {
            let state = state.as_deref().map(EventState::parse).transpose()?;
            let limit = outbox::count("limit", limit, outbox::MAX_BATCH)?;
            Ok(records::json(
                &service.list_budget_events(state, limit).await?,
            ))
        })
    }

    /// Un-park a budget event: `true` if it was parked (it is pending again, attempts reset).
    #[napi(catch_unwind, ts_return_type = "Promise<boolean>")]
    pub fn retry_event<'e>(&self, env: &'e Env, event_id: String) -> Result<PromiseRaw<'e, bool>> {
        let service = self.service();
        promise(env, async move {
            let id = outbox::event_id(&event_id)?;
            service.retry_budget_event(id).await
        })
    }
}
