-- How many keys are stored (the total of a rotation or verification's progress).
SELECT count(*) AS keys FROM ps_private_access_store
