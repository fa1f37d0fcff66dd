#!/bin/bash
# Server-side cost per call at 1 in flight, interleaved: for each run, for each DB:statement,
# perf_c1.sh without perf (backend CPU from /proc/PID/schedstat / commits) and pgbench latency.
# CSV: run,db,stmt,sync,latency_ms,cpu_us
# usage: cpu_ab.sh RUNS SECONDS SYNC "db:stmt db:stmt ..."
RUNS=$1; T=$2; SYNC=$3; PAIRS=$4
HERE=$(cd "$(dirname "$0")" && pwd)
for r in $(seq 1 $RUNS); do for p in $PAIRS; do
  db=${p%%:*}; s=${p#*:}
  $HERE/perf_c1.sh $db $s $T /tmp/pspas_cpu_$$ $SYNC noperf \
  | sed -nE "s/^[^:]+: latency ([0-9.]+) ms, commits [0-9]+, backend CPU ([0-9]+) us\/call/$r,$db,$s,$SYNC,\1,\2/p"
done; done
rm -f /tmp/pspas_cpu_$$.*
