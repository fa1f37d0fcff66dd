-- Forget a request whose increment was undone (the key it was served could not be opened), so
-- a retry with the same id counts afresh. ?1 group, ?2 request id.
DELETE FROM ps_private_access_requests
WHERE group_id = ?1 AND request_id = ?2
