-- Is the table there (PolicySynth's, or one this package created)?
SELECT to_regclass('ps_private_access_store') IS NOT NULL AS table_exists
