-- Inserts of keys one at a time (the transaction's advisory lock 0x7073706169, "pspai"), so that
-- insert.sql's check for a stored copy sees every committed key. Adding keys is rare.
SELECT pg_advisory_xact_lock(482973081961)
