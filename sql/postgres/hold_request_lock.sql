-- Serialize the reserves made with one requestId in one group until the end of the
-- transaction (transaction-scoped, so fine behind a transaction-mode pooler): the second
-- finds the first one's reservation. $1 group, $2 request id.
SELECT pg_advisory_xact_lock(hashtextextended($1::int8::text || ':' || $2::text, 0))
