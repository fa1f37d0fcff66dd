#!/usr/bin/env python3
"""Re-derive the package's lean and full increment statements from src/store/pg.rs
(a line-for-line Python transcription of fn lean_sql / fn increment_sql and helpers).
Self-check: the full statement must equal benches/increment-pg.sql byte for byte
(that file, at 51c9600, is pinned to the Rust output by tests/bench_sql.rs).
Transcribes src/store/pg.rs as of commit 51c9600 (the working tree is being rewritten to sql/postgres/*.sql).
Writes lean-pg.sql and full-pg.sql next to this script.
The increment filter for { aiModelId: 1 } is cond = " AND ai_model_id = $5" (NativeFilter::to_core(false):
is_active is ignored for increments; the statements hard-code `is_active IS NOT FALSE`)."""
import os, sys
HERE = os.path.dirname(os.path.abspath(__file__))

def daily(s): return f"(CASE WHEN {s}.usage->>'periodDay' = p.day THEN COALESCE(({s}.usage->>'dailyUse')::numeric, 0) ELSE 0 END)"
def monthly(s): return f"(CASE WHEN {s}.usage->>'periodMonth' = p.month THEN COALESCE(({s}.usage->>'monthlyUse')::numeric, 0) ELSE 0 END)"
def total(s): return f"COALESCE(({s}.usage->>'totalUse')::numeric, 0)"
def config_number(s, section, field):
    return (f"(CASE WHEN jsonb_typeof({s}.configuration->'{section}'->'{field}') = 'number' "
            f"THEN ({s}.configuration->'{section}'->>'{field}')::numeric END)")
def limit(s, f): return config_number(s, "maxBudget", f)
def over(used, lim): return f"({lim} IS NOT NULL AND {used} + p.amt > {lim})"
def not_notified(s, kind, pv): return f"({s}.usage->'notified'->>'{kind}') IS DISTINCT FROM {pv}"

def lean_sql(cond):
    d, m, t = daily("s"), monthly("s"), total("s")
    ld, lm, lt = limit("s", "perDay"), limit("s", "petMonth"), limit("s", "total")
    od, om, ot = over(d, ld), over(m, lm), over(t, lt)
    td = config_number("s", "emailNotificationBudgetThresholds", "daily")
    tm = config_number("s", "emailNotificationBudgetThresholds", "monthly")
    def crosses(used, lim, thr, kind, period):
        return (f"({lim} IS NOT NULL AND {thr} IS NOT NULL "
                f"AND {used} + p.amt >= (CASE WHEN {thr} <= 1 THEN {thr} * {lim} ELSE {thr} END) "
                f"AND {not_notified('s', kind, period)})")
    cd = crosses(d, ld, td, "dailyThreshold", "p.day")
    cm = crosses(m, lm, tm, "monthlyThreshold", "p.month")
    return ("WITH p AS (SELECT to_char(now() AT TIME ZONE $3, 'YYYY-MM-DD') AS day, "
            "to_char(now() AT TIME ZONE $3, 'YYYY-MM') AS month, $2::float8::numeric AS amt) "
            "UPDATE ps_private_access_store s SET "
            "usage = COALESCE(s.usage, '{}'::jsonb) || jsonb_build_object( "
            f"'dailyUse', {d} + p.amt, 'monthlyUse', {m} + p.amt, 'totalUse', {t} + p.amt, "
            "'periodDay', p.day, 'periodMonth', p.month), "
            "last_used_at = now(), updated_at = now() "
            "FROM p "
            "WHERE s.id = (SELECT id FROM ps_private_access_store "
            f"WHERE group_id = $1 AND is_active IS NOT FALSE{cond} ORDER BY id LIMIT 1 FOR UPDATE) "
            f"AND s.is_active IS NOT FALSE{cond} "
            f"AND (NOT $4::bool OR NOT ({od} OR {om} OR {ot})) "
            f"AND NOT {cd} AND NOT {cm} "
            "RETURNING s.id::int8 AS id, s.encrypted_api_key, s.encrypted_aes_key")

def increment_sql(cond):
    d, m, t = daily("s"), monthly("s"), total("s")
    ld, lm, lt = limit("s", "perDay"), limit("s", "petMonth"), limit("s", "total")
    od, om, ot = over(d, ld), over(m, lm), over(t, lt)
    new_dl = f"({od} AND {not_notified('s', 'dailyLimit', 'p.day')})"
    new_ml = f"({om} AND {not_notified('s', 'monthlyLimit', 'p.month')})"
    new_tl = f"({ot} AND {not_notified('s', 'totalLimit', chr(39)+'total'+chr(39))})"
    room = f"NOT ({od} OR {om} OR {ot})"
    td = config_number("s", "emailNotificationBudgetThresholds", "daily")
    tm = config_number("s", "emailNotificationBudgetThresholds", "monthly")
    flag = lambda c, kind, v: f"|| CASE WHEN {c} THEN jsonb_build_object('{kind}', {v}) ELSE '{{}}'::jsonb END"
    fdt = flag("ev.e_dt", "dailyThreshold", "p.day"); fmt = flag("ev.e_mt", "monthlyThreshold", "p.month")
    fdl = flag("r.e_dl", "dailyLimit", "p.day"); fml = flag("r.e_ml", "monthlyLimit", "p.month")
    ftl = flag("r.e_tl", "totalLimit", "'total'")
    return ("WITH p AS (SELECT to_char(now() AT TIME ZONE $3, 'YYYY-MM-DD') AS day, "
            "to_char(now() AT TIME ZONE $3, 'YYYY-MM') AS month, "
            "date_trunc('day', now() AT TIME ZONE $3) AT TIME ZONE $3 AS day_start, "
            "date_trunc('month', now() AT TIME ZONE $3) AT TIME ZONE $3 AS month_start, "
            "$2::float8::numeric AS amt, $4::bool AS enforce), "
            f"pick AS (SELECT s.id, s.group_id, s.ai_model_id, s.external_api_id, {d} AS d0, {m} AS m0, {t} AS t0, "
            f"{ld} AS ld, {lm} AS lm, {td} AS td, {tm} AS tm, COALESCE(s.usage->'notified', '{{}}'::jsonb) AS notified "
            "FROM ps_private_access_store s CROSS JOIN p "
            f"WHERE s.group_id = $1 AND s.is_active IS NOT FALSE{cond} AND (NOT p.enforce OR {room}) "
            "ORDER BY s.id LIMIT 1 FOR UPDATE OF s), "
            "ev AS (SELECT pick.*, "
            "(pick.ld IS NOT NULL AND pick.td IS NOT NULL AND pick.d0 + p.amt >= (CASE WHEN pick.td <= 1 THEN pick.td * pick.ld ELSE pick.td END) "
            "AND (pick.notified->>'dailyThreshold') IS DISTINCT FROM p.day) AS e_dt, "
            "(pick.lm IS NOT NULL AND pick.tm IS NOT NULL AND pick.m0 + p.amt >= (CASE WHEN pick.tm <= 1 THEN pick.tm * pick.lm ELSE pick.tm END) "
            "AND (pick.notified->>'monthlyThreshold') IS DISTINCT FROM p.month) AS e_mt "
            "FROM pick CROSS JOIN p), "
            "upd AS (UPDATE ps_private_access_store s SET "
            "usage = COALESCE(s.usage, '{}'::jsonb) || jsonb_build_object( "
            "'dailyUse', ev.d0 + p.amt, 'monthlyUse', ev.m0 + p.amt, 'totalUse', ev.t0 + p.amt, "
            "'periodDay', p.day, 'periodMonth', p.month, "
            f"'notified', ev.notified {fdt} {fmt}), "
            "last_used_at = now(), updated_at = now() "
            "FROM ev CROSS JOIN p WHERE s.id = ev.id "
            "RETURNING s.id::int8 AS id, s.encrypted_api_key, s.encrypted_aes_key, ev.group_id::int8 AS g, "
            "ev.ai_model_id::int8 AS am, ev.external_api_id::int8 AS ea, (ev.d0 + p.amt)::float8 AS du, "
            "(ev.m0 + p.amt)::float8 AS mu, (ev.t0 + p.amt)::float8 AS tu, ev.ld::float8 AS ld, ev.lm::float8 AS lm, "
            "NULL::float8 AS lt, ev.e_dt, ev.e_mt, false AS e_dl, false AS e_ml, false AS e_tl), "
            f"rpick AS (SELECT s.id, s.group_id, s.ai_model_id, s.external_api_id, {d} AS d0, {m} AS m0, {t} AS t0, "
            f"{ld} AS ld, {lm} AS lm, {lt} AS lt, {new_dl} AS e_dl, {new_ml} AS e_ml, {new_tl} AS e_tl "
            "FROM ps_private_access_store s CROSS JOIN p "
            f"WHERE p.enforce AND s.group_id = $1 AND s.is_active IS NOT FALSE{cond} "
            "AND s.id < COALESCE((SELECT id FROM pick), 9223372036854775807) "
            f"AND ({new_dl} OR {new_ml} OR {new_tl}) "
            "ORDER BY s.id FOR UPDATE OF s), "
            "refused AS (UPDATE ps_private_access_store s SET "
            "usage = COALESCE(s.usage, '{}'::jsonb) || jsonb_build_object('notified', "
            f"COALESCE(s.usage->'notified', '{{}}'::jsonb) {fdl} {fml} {ftl}) "
            "FROM rpick r CROSS JOIN p WHERE s.id = r.id "
            "RETURNING r.id::int8 AS id, NULL::text AS encrypted_api_key, NULL::text AS encrypted_aes_key, "
            "r.group_id::int8 AS g, r.ai_model_id::int8 AS am, r.external_api_id::int8 AS ea, r.d0::float8 AS du, "
            "r.m0::float8 AS mu, r.t0::float8 AS tu, r.ld::float8 AS ld, r.lm::float8 AS lm, r.lt::float8 AS lt, "
            "false AS e_dt, false AS e_mt, r.e_dl, r.e_ml, r.e_tl) "
            "SELECT x.*, p.day, p.month, p.day_start, p.month_start "
            "FROM (SELECT * FROM upd UNION ALL SELECT * FROM refused) x CROSS JOIN p")

COND = " AND ai_model_id = $5"
full = increment_sql(COND)
import subprocess  # the statement at commit 51c9600: the working tree is being rewritten meanwhile
ref = subprocess.run(["git", "-C", HERE, "show", "51c9600:benches/increment-pg.sql"], capture_output=True, text=True, check=True).stdout.rstrip("\n")
if full != ref:
    import difflib
    for i,(a,b) in enumerate(zip(full, ref)):
        if a != b: print("first diff at", i, repr(full[i-60:i+60]), repr(ref[i-60:i+60])); break
    print("len", len(full), len(ref)); sys.exit("transcription of increment_sql does not match benches/increment-pg.sql")
open(os.path.join(HERE, "full-pg.sql"), "w").write(full + "\n")
open(os.path.join(HERE, "lean-pg.sql"), "w").write(lean_sql(COND) + "\n")
print("ok: full statement matches benches/increment-pg.sql byte for byte; wrote lean-pg.sql, full-pg.sql")

# ---- prototype, not the package's SQL: the lean statement with each counter/limit/threshold
# computed once, in the locking sub-select (values of the locked row version, like the full
# statement's `pick`), and the budget test on those columns. Same parameters, same outcome.
def lean_v2_sql(cond):
    d, m, t = daily("k0"), monthly("k0"), total("k0")
    ld, lm, lt = limit("k0", "perDay"), limit("k0", "petMonth"), limit("k0", "total")
    td = config_number("k0", "emailNotificationBudgetThresholds", "daily")
    tm = config_number("k0", "emailNotificationBudgetThresholds", "monthly")
    over_ = lambda u, l: f"(k.{l} IS NOT NULL AND k.{u} + p.amt > k.{l})"
    cross = lambda u, l, th, kind, per: (f"(k.{l} IS NOT NULL AND k.{th} IS NOT NULL AND k.{u} + p.amt >= "
        f"(CASE WHEN k.{th} <= 1 THEN k.{th} * k.{l} ELSE k.{th} END) AND (k.notified->>'{kind}') IS DISTINCT FROM {per})")
    c = cond.replace("ai_model_id", "k0.ai_model_id")
    return ("WITH p AS (SELECT to_char(now() AT TIME ZONE $3, 'YYYY-MM-DD') AS day, "
            "to_char(now() AT TIME ZONE $3, 'YYYY-MM') AS month, $2::float8::numeric AS amt) "
            "UPDATE ps_private_access_store s SET "
            "usage = COALESCE(s.usage, '{}'::jsonb) || jsonb_build_object("
            "'dailyUse', k.d + p.amt, 'monthlyUse', k.m + p.amt, 'totalUse', k.t + p.amt, "
            "'periodDay', p.day, 'periodMonth', p.month), last_used_at = now(), updated_at = now() "
            f"FROM p, (SELECT k0.id, {d} AS d, {m} AS m, {t} AS t, {ld} AS ld, {lm} AS lm, {lt} AS lt, "
            f"{td} AS td, {tm} AS tm, k0.usage->'notified' AS notified "
            "FROM ps_private_access_store k0 CROSS JOIN p "
            f"WHERE k0.group_id = $1 AND k0.is_active IS NOT FALSE{c} ORDER BY k0.id LIMIT 1 FOR UPDATE OF k0) k "
            f"WHERE s.id = k.id AND (NOT $4::bool OR NOT ({over_('d','ld')} OR {over_('m','lm')} OR {over_('t','lt')})) "
            f"AND NOT {cross('d','ld','td','dailyThreshold','p.day')} AND NOT {cross('m','lm','tm','monthlyThreshold','p.month')} "
            "RETURNING s.id::int8 AS id, s.encrypted_api_key, s.encrypted_aes_key")

open(os.path.join(HERE, "lean-v2-pg.sql"), "w").write(lean_v2_sql(COND) + "\n")
print("wrote lean-v2-pg.sql (prototype)")
