-- Are the tables there (PolicySynth's, or ones this package created), and the function the
-- statements call? The migrations run when any is missing.
SELECT
  to_regclass('ps_private_access_store') IS NOT NULL
    AND to_regclass('ps_private_access_requests') IS NOT NULL
    AND to_regclass('ps_private_access_holds') IS NOT NULL
    AND to_regclass('ps_private_access_events') IS NOT NULL
    AND to_regprocedure('ps_private_access_holds_state(jsonb,numeric)') IS NOT NULL
      AS table_exists
