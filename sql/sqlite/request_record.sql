-- Record the key a claimed request served. ?1 group, ?2 request id, ?3 key id (NULL: none).
UPDATE ps_private_access_requests
SET key_id = ?3
WHERE group_id = ?1 AND request_id = ?2
