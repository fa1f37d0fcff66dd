-- Drop up to 100 requests older than the retention window (run by calls that claim a new
-- id, so the table stays bounded without a timer). $1 retention in milliseconds.
DELETE FROM ps_private_access_requests
WHERE ctid = ANY (ARRAY(
  SELECT ctid
  FROM ps_private_access_requests
  WHERE created_at < now() - $1::float8 * interval '1 millisecond'
  LIMIT 100
))
