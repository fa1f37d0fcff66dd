-- Claim a request id (new, or reused after its retention window), inside the increment's
-- BEGIN IMMEDIATE transaction. ?1 group, ?2 request id, ?3 fingerprint, ?4 now (RFC 3339).
INSERT INTO ps_private_access_requests (group_id, request_id, fingerprint, key_id, created_at)
VALUES (?1, ?2, ?3, NULL, ?4)
ON CONFLICT (group_id, request_id) DO UPDATE
  SET fingerprint = excluded.fingerprint, key_id = NULL, created_at = excluded.created_at
