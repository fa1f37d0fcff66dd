#!/usr/bin/env python3
"""lean-nofilter: lean-pg.sql without the redundant outer `AND s.is_active IS NOT FALSE AND
  ai_model_id = $5` (same semantics: the FOR UPDATE sub-select re-checks its WHERE on the
  locked version) -- the proposed change.
Ablations of the lean statement (NOT correct statements, cost probes only):
lean-nobudget: lean-pg.sql without the budget conditions of its WHERE (keeps the period CTE,
  the usage merge with periodDay/periodMonth, the redundant outer filter);
lean-bare: lean-nobudget without the redundant outer filter either."""
import os, re
H = os.path.dirname(os.path.abspath(__file__))
s = open(os.path.join(H, "lean-pg.sql")).read().strip()
old = " FOR UPDATE) AND s.is_active IS NOT FALSE AND ai_model_id = $5 AND (NOT $4::bool"
assert s.count(old) == 1
open(os.path.join(H, "lean-nofilter-pg.sql"), "w").write(s.replace(old, " FOR UPDATE) AND (NOT $4::bool") + "\n")
i = s.index(" AND (NOT $4::bool"); j = s.index(" RETURNING ")
nob = s[:i] + s[j:]
bare = nob.replace(" FOR UPDATE) AND s.is_active IS NOT FALSE AND ai_model_id = $5", " FOR UPDATE)")
assert bare != nob
typed = {1: ":g::int8", 2: ":amt::float8", 3: ":tz::text", 4: ":enf::bool", 5: ":m::int8"}
for name, sql in (("lean-nobudget", nob), ("lean-bare", bare)):
    open(os.path.join(H, f"{name}-pg.sql"), "w").write(sql + "\n")
    body = re.sub(r"\$(\d)(?!\d)", lambda m: typed[int(m.group(1))], sql)
    if "$4" not in sql: body = body  # $4 unused: pgbench needs no such variable
    open(os.path.join(H, f"{name}.pgb"), "w").write("\\set g :gbase + random(0, :gspan - 1)\n" + body + ";\n")
print("wrote lean-nofilter-pg.sql, lean-nobudget, lean-bare")
