-- The requests table (additive; PolicySynth's table keeps its shape): one row per
-- (group, requestId) an increment was made with, so a repeat within the retention window
-- counts nothing and serves the key the first one served. `fingerprint` is the amount and the
-- filter of the first call (a repeat with others is a conflict); `key_id` the key it served
-- (NULL: none had room). Created with the store's table, under the same advisory lock.
CREATE TABLE IF NOT EXISTS ps_private_access_requests (
  group_id INTEGER NOT NULL,
  request_id VARCHAR(255) NOT NULL,
  fingerprint TEXT NOT NULL,
  key_id INTEGER,
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
  PRIMARY KEY (group_id, request_id)
);
CREATE INDEX IF NOT EXISTS ps_private_access_requests_created_at
  ON ps_private_access_requests (created_at);
