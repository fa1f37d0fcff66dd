-- Claim a request id for an increment, inside the increment's transaction. A new id (or one
-- whose row is older than the retention window: reused) returns a row and the call counts; an
-- id claimed within the window returns none and the call is a repeat. A concurrent first
-- claim of the same id is waited for (the primary key), so exactly one of them counts.
-- $1 group, $2 request id, $3 fingerprint (amount and filter), $4 retention in milliseconds.
INSERT INTO ps_private_access_requests AS r (group_id, request_id, fingerprint)
VALUES ($1, $2, $3)
ON CONFLICT (group_id, request_id) DO UPDATE
  SET fingerprint = EXCLUDED.fingerprint, key_id = NULL, created_at = now()
  WHERE r.created_at < now() - $4::float8 * interval '1 millisecond'
RETURNING r.group_id
