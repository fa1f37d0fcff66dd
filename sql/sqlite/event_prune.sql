-- Prune acked events older than the retention (a claim does it on the way; nothing unacked is
-- ever pruned). ?1 the oldest ack time kept (RFC 3339).
DELETE FROM ps_private_access_events
WHERE state = 'acked' AND acked_at < ?1
