#!/usr/bin/env python3
"""pgbench scripts from the statements. Group per transaction: g = :gbase + random(0, :gspan - 1)
(hot key: -D gbase=<g> -D gspan=1; 1,000 random groups: -D gbase=10000 -D gspan=1000).
plain.pgb: benches/plain-increment-pg.sql with untyped parameters (as node-pg sends them).
lean.pgb / full.pgb: lean-pg.sql / full-pg.sql with sqlx's parameter types
($1 int8 group, $2 float8 amount, $3 text timezone, $4 bool enforce, $5 int8 ai_model_id)."""
import os, re
H = os.path.dirname(os.path.abspath(__file__))
head = "\\set g :gbase + random(0, :gspan - 1)\n"
def conv(sql, names):
    return re.sub(r"\$(\d)(?!\d)", lambda m: names[int(m.group(1))], sql.strip()) + ";\n"
plain = open(os.path.join(H, "..", "plain-increment-pg.sql")).read()
# pgbench scripts end a command at a newline unless inside parentheses... keep one line
plain = " ".join(plain.split())
open(os.path.join(H, "plain.pgb"), "w").write(head + conv(plain, {1: ":g", 2: ":amt", 3: ":m"}))
typed = {1: ":g::int8", 2: ":amt::float8", 3: ":tz::text", 4: ":enf::bool", 5: ":m::int8"}
for name in ("lean", "full", "lean-nofilter", "lean-v2"):
    sql = open(os.path.join(H, f"{name}-pg.sql")).read()
    open(os.path.join(H, f"{name}.pgb"), "w").write(head + conv(sql, typed))
print("wrote plain.pgb and", ", ".join(f"{n}.pgb" for n in ("lean", "full", "lean-nofilter", "lean-v2")))
