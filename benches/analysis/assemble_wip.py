#!/usr/bin/env python3
"""Snapshot of the work-in-progress lean statement (sql/postgres/increment_lean.sql in the
working tree, rendered like src/store/pg.rs fn render) for the bench's filter, written to
wip-lean-pg.sql, and a pgbench script with sqlx's types ($1 tz text, $2 group int8,
$3 amount float8, $4 enforce bool, $5 ai_model_id int8)."""
import os, re, hashlib, time
H = os.path.dirname(os.path.abspath(__file__)); S = os.path.join(H, "..", "..", "sql", "postgres")
r = lambda n: open(os.path.join(S, n)).read()
sql = (r("increment_lean.sql").replace("/*:period*/", r("period.sql")).replace("/*:key_budget*/", r("key_budget.sql"))
       .replace("/*:key_record*/", r("key_record.sql")).replace("/*:filter*/", " AND ai_model_id = $5"))
open(os.path.join(H, "wip-lean-pg.sql"), "w").write(sql)
one = " ".join(l.split("--")[0] for l in sql.splitlines()).strip()   # pgbench: one line, no comments
one = " ".join(one.split())
names = {1: ":tz::text", 2: ":g::int8", 3: ":amt::float8", 4: ":enf::bool", 5: ":m::int8"}
one = re.sub(r"\$(\d)(?!\d)", lambda m: names[int(m.group(1))], one)
open(os.path.join(H, "wip-lean.pgb"), "w").write("\\set g :gbase + random(0, :gspan - 1)\n" + one + ";\n")
print("wip-lean-pg.sql sha1", hashlib.sha1(sql.encode()).hexdigest()[:12], time.strftime("%H:%M"))
