#!/usr/bin/env python3
"""bench_emul.sh CSV -> per scenario: median tps per variant for each setup (runs in
brackets), package/limit, and the package's generic plan + reltuples per run."""
import sys, statistics as st
from collections import defaultdict, OrderedDict
d = defaultdict(list); sig = defaultdict(list); setups = OrderedDict(); scs = OrderedDict()
for l in sys.stdin:
    p = l.strip().split(",")
    if len(p) < 7 or not p[4]: continue
    lab, sc, r, v, tps, rt, sg = p[:7]
    setups[lab] = 1; scs[sc] = 1
    d[(lab, sc, v)].append(float(tps))
    if v == "package" and sg: sig[(lab, sc)].append(f"{sg} @reltuples {rt}")
V = ["package", "nocoal", "baseline", "limit", "statement"]
print("| scenario | setup | " + " | ".join(V) + " | package/limit |")
print("|---|---|" + "---|" * len(V) + "---|")
for sc in scs:
    for lab in setups:
        cells = []
        for v in V:
            x = d.get((lab, sc, v), [])
            cells.append(f"{st.median(x):.0f} ({'/'.join(f'{y:.0f}' for y in x)})" if x else "")
        pk, lm = d.get((lab, sc, "package")), d.get((lab, sc, "limit"))
        ratio = f"{st.median(pk)/st.median(lm):.2f}x" if pk and lm else ""
        print(f"| {sc} | {lab} | " + " | ".join(cells) + f" | {ratio} |")
print()
for (lab, sc), s in sig.items():
    print(f"- {lab} {sc}: " + "; ".join(s))
