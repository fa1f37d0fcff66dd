-- Delete the reservations past their prune time. ?1 now (RFC 3339).
DELETE FROM ps_private_access_holds
WHERE prune_after < ?1
