#!/bin/bash
# Named prepared statements (generic plan from the 6th execution, like sqlx and node-pg with
# a name) vs force_custom_plan vs unnamed statements (-M extended: parse + plan every call,
# like sqlx in PgBouncer mode), 1 in flight, interleaved. CSV: run,db,stmt/mode,sync,latency,cpu
# usage: mode_ab.sh RUNS SECONDS DB "plain lean full"
RUNS=$1; T=$2; DB=$3; STMTS=$4; HERE=$(cd "$(dirname "$0")" && pwd)
for r in $(seq 1 $RUNS); do for s in $STMTS; do
  for m in prepared custom extended; do
    case $m in
      prepared) env PGB_MODE=prepared $HERE/perf_c1.sh $DB $s $T /tmp/pspas_mode_$$ off noperf ;;
      custom) env PGB_MODE=prepared EXTRA_PGOPTIONS="-c plan_cache_mode=force_custom_plan" $HERE/perf_c1.sh $DB $s $T /tmp/pspas_mode_$$ off noperf ;;
      extended) env PGB_MODE=extended $HERE/perf_c1.sh $DB $s $T /tmp/pspas_mode_$$ off noperf ;;
    esac | sed -nE "s/^[^:]+: latency ([0-9.]+) ms, commits [0-9]+, backend CPU ([0-9]+) us\/call/$r,$DB,$s\/$m,off,\1,\2/p"
  done
done; done
rm -f /tmp/pspas_mode_$$.*
