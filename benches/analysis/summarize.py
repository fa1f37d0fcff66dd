#!/usr/bin/env python3
"""Summarize hot_ab.sh / spread CSV (run,stmt,variant,window,tps,lat) from stdin:
per stmt x variant: median over runs of the run's mean tps, of its first and last 2 s window,
and min/max of all windows."""
import sys, statistics as st
from collections import defaultdict
rows = [l.strip().split(",") for l in sys.stdin if l.count(",") == 5]
runs = defaultdict(lambda: defaultdict(list))
for r, s, v, w, tps, lat in rows:
    runs[(s, v)][r].append((float(w), float(tps)))
print("| statement | variant | runs | median tps (run means) | run means | first 2 s (median) | last 2 s (median) | min..max 2 s window |")
print("|---|---|---|---|---|---|---|---|")
for (s, v), rr in runs.items():
    means = [st.mean(t for _, t in ws) for ws in rr.values()]
    firsts = [sorted(ws)[0][1] for ws in rr.values()]
    lasts = [sorted(ws)[-1][1] for ws in rr.values()]
    allw = [t for ws in rr.values() for _, t in ws]
    print(f"| {s} | {v} | {len(means)} | {st.median(means):.0f} | {' / '.join(f'{m:.0f}' for m in means)} | "
          f"{st.median(firsts):.0f} | {st.median(lasts):.0f} | {min(allw):.0f}..{max(allw):.0f} |")
