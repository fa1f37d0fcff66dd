-- The head of every statement that reads or writes budget counters: the current period by
-- the database's clock in the time zone $1 (PSPAS_TIMEZONE), so that every process on
-- every machine agrees on when a day or a month ends. See crate::budget::Period.
WITH period AS (
  SELECT
    to_char(now() AT TIME ZONE $1, 'YYYY-MM-DD') AS day,
    to_char(now() AT TIME ZONE $1, 'YYYY-MM') AS month,
    date_trunc('day', now() AT TIME ZONE $1) AT TIME ZONE $1 AS day_start,
    date_trunc('month', now() AT TIME ZONE $1) AT TIME ZONE $1 AS month_start
)
