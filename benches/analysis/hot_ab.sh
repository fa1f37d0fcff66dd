#!/bin/bash
# Interleaved hot-key runs: for each run, for each statement, for each variant database:
# VACUUM, then pgbench -P 2 for SECONDS with CLIENTS connections on the statement's hot group.
# Prints one CSV line per 2 s window: run,stmt,variant,window_end_s,tps,lat_ms
# usage: hot_ab.sh RUNS SECONDS CLIENTS MODE SYNC(on|off) "plain lean" "base analyze ix3"
RUNS=$1; T=$2; C=$3; MODE=$4; SYNC=$5; STMTS=$6; VARS=$7
HERE=$(cd "$(dirname "$0")" && pwd)
declare -A G=([plain]=3 [lean]=1 [lean-nofilter]=1 [lean-v2]=2 [wip-lean]=5 [lean-nobudget]=1 [lean-bare]=1 [full]=4)   # hot groups (bench: limit 3, package 1, statement 4)
for r in $(seq 1 $RUNS); do for s in $STMTS; do for v in $VARS; do
  psql -h 127.0.0.1 -U root -X -q pspas_an_$v -c "VACUUM ps_private_access_store"
  PGOPTIONS="-c synchronous_commit=$SYNC" pgbench -h 127.0.0.1 -U root -n -M $MODE -c $C -j 2 -T $T -P 2 \
    -D gbase=${G[$s]} -D gspan=1 -D amt=1 -D tz=UTC -D enf=true -D m=1 -f $HERE/$s.pgb pspas_an_$v 2>&1 \
  | awk -v r=$r -v s=$s -v v=$v '/^progress/ {print r","s","v","$2+0","$4+0","$7+0}'
done; done; done
