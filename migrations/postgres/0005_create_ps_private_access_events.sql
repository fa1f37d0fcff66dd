-- The budget event outbox (additive; PolicySynth's table keeps its shape): every budget event,
-- written in the same transaction that decides it, so that it outlives the process that made
-- the call and any process can consume it (see docs/events.md).
--   (key_id, period_key, kind) is unique: one event per key, period and kind, however many
--   processes cross the threshold at once (`period_key`: the day 'YYYY-MM-DD', the month
--   'YYYY-MM', or 'total', as in `usage.notified`).
--   used / budget_limit / period_start: the event's documented fields.
--   state: 'pending' until a consumer acks it ('acked', at `acked_at`) or it has been claimed
--   `attempts` times without an ack ('parked', shown and kept until retried).
--   consumer / leased_until: who claimed it last, and until when no one else may.
CREATE TABLE IF NOT EXISTS ps_private_access_events (
  event_id BIGSERIAL PRIMARY KEY,
  key_id INTEGER NOT NULL,
  group_id INTEGER NOT NULL,
  ai_model_id INTEGER,
  external_api_id INTEGER,
  kind VARCHAR(32) NOT NULL,
  period_key VARCHAR(16) NOT NULL,
  used DOUBLE PRECISION NOT NULL,
  budget_limit DOUBLE PRECISION NOT NULL,
  period_start TIMESTAMP WITH TIME ZONE,
  state VARCHAR(16) NOT NULL DEFAULT 'pending',
  attempts INTEGER NOT NULL DEFAULT 0,
  consumer VARCHAR(255),
  leased_until TIMESTAMP WITH TIME ZONE,
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
  acked_at TIMESTAMP WITH TIME ZONE,
  CONSTRAINT ps_private_access_events_once UNIQUE (key_id, period_key, kind)
);
CREATE INDEX IF NOT EXISTS ps_private_access_events_pending
  ON ps_private_access_events (event_id) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS ps_private_access_events_acked
  ON ps_private_access_events (acked_at) WHERE state = 'acked';
