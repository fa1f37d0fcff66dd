-- Are the tables there (PolicySynth's, or ones this package created)? The migrations run when
-- any is missing.
SELECT
  to_regclass('ps_private_access_store') IS NOT NULL
    AND to_regclass('ps_private_access_requests') IS NOT NULL
    AND to_regclass('ps_private_access_holds') IS NOT NULL AS table_exists
