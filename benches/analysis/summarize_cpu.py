#!/usr/bin/env python3
"""Medians of cpu_ab.sh CSV (run,db,stmt,sync,latency_ms,cpu_us) from stdin, with ratios to
the plain statement in the same database."""
import sys, statistics as st
from collections import defaultdict
d = defaultdict(list)
for l in sys.stdin:
    p = l.strip().split(",")
    if len(p) == 6: d[(p[1], p[2], p[3])].append((float(p[4]), float(p[5])))
print("| db | statement | sync | runs | median latency ms | median backend CPU us/call | CPU / plain | latency / plain | CPU per run |")
print("|---|---|---|---|---|---|---|---|---|")
for (db, s, y), v in d.items():
    L = st.median(x[0] for x in v); C = st.median(x[1] for x in v)
    pl = d.get((db, "plain", y))
    rc = f"{C / st.median(x[1] for x in pl):.2f}x" if pl else ""
    rl = f"{L / st.median(x[0] for x in pl):.2f}x" if pl else ""
    print(f"| {db} | {s} | {y} | {len(v)} | {L:.3f} | {C:.0f} | {rc} | {rl} | {' / '.join(f'{x[1]:.0f}' for x in v)} |")
