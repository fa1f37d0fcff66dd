#!/usr/bin/env python3
"""lifecycle.sh CSV -> per label x scenario x statement: median, min, max, max/min over rounds,
and the rounds' tps in order."""
import sys, statistics as st
from collections import defaultdict
d = defaultdict(list); rt = defaultdict(list)
for l in sys.stdin:
    p = l.strip().split(",")
    if len(p) == 6 and p[4]:
        d[(p[1], p[2], p[3])].append(float(p[4])); rt[p[1]].append(int(p[5]))
print("| setup | scenario | statement | rounds | median tps | min | max | max/min | tps by round |")
print("|---|---|---|---|---|---|---|---|---|")
for (lab, sc, s), v in sorted(d.items()):
    print(f"| {lab} | {sc} | {s} | {len(v)} | {st.median(v):.0f} | {min(v):.0f} | {max(v):.0f} | {max(v)/min(v):.1f} | {' '.join(f'{x:.0f}' for x in v)} |")
for lab, v in rt.items():
    print(f"\nreltuples after each VACUUM ({lab}): {' '.join(map(str, v))}")
