-- The holds table (additive; PolicySynth's table keeps its shape): one row per reservation
-- (reserveUsageAndGetApiKey), the durable record settleUsage and releaseUsage work from.
-- What admission counts is the hold's entry in its key's `usage.holds` (see crate::budget),
-- so that it is read under the key's row lock; this row says what became of it.
--   state: 'held' until settled ('settled', with `charged` and `overrun`) or released
--   ('released'); `expires_at`: when the hold stops counting; `request_id` / `fingerprint`:
--   the reserve's requestId and its estimate and filter (a repeat returns this reservation);
--   `prune_after`: when the row may be deleted (the request retention after its expiry or
--   its settle/release).
CREATE TABLE IF NOT EXISTS ps_private_access_holds (
  reservation_id VARCHAR(64) PRIMARY KEY,
  group_id INTEGER NOT NULL,
  key_id INTEGER NOT NULL,
  request_id VARCHAR(255),
  fingerprint TEXT,
  amount NUMERIC NOT NULL,
  state VARCHAR(16) NOT NULL DEFAULT 'held',
  charged NUMERIC,
  overrun NUMERIC,
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
  expires_at TIMESTAMP WITH TIME ZONE NOT NULL,
  settled_at TIMESTAMP WITH TIME ZONE,
  prune_after TIMESTAMP WITH TIME ZONE NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS ps_private_access_holds_request
  ON ps_private_access_holds (group_id, request_id) WHERE request_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS ps_private_access_holds_prune_after
  ON ps_private_access_holds (prune_after);
