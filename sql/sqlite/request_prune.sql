-- Drop up to 100 requests claimed before ?1 (now minus the retention window, RFC 3339).
DELETE FROM ps_private_access_requests
WHERE rowid IN (
  SELECT rowid
  FROM ps_private_access_requests
  WHERE created_at < ?1
  LIMIT 100
)
