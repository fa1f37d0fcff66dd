#!/usr/bin/env python3
"""Medians of c1_ab.sh / spread_ab.sh CSV (run,db,stmt,sync,latency_ms,tps) from stdin."""
import sys, statistics as st
from collections import defaultdict
d = defaultdict(list)
for l in sys.stdin:
    p = l.strip().split(",")
    if len(p) == 6: d[(p[1], p[2], p[3])].append((float(p[4]), float(p[5])))
print("| db | statement | sync commit | runs | median latency ms | median tps | latencies |")
print("|---|---|---|---|---|---|---|")
for (db, s, y), v in d.items():
    print(f"| {db} | {s} | {y} | {len(v)} | {st.median(x[0] for x in v):.3f} | {st.median(x[1] for x in v):.0f} | {' / '.join(f'{x[0]:.3f}' for x in v)} |")
