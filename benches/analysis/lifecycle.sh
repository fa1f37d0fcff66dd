#!/bin/bash
# The bench's life cycle, before vs after the fix, interleaved round by round. A round, on each
# database: for each statement: VACUUM, hot key SECONDS (CLIENTS connections = the bench's pool
# of 10 under 32 in flight); VACUUM, 1,000 random groups SECONDS. Plain VACUUM only, never
# ANALYZE: the bench's database (autovacuum is off on this machine) never gets statistics.
# CSV: round,label,scenario,stmt,tps,reltuples_after_vacuum
# usage: lifecycle.sh ROUNDS SECONDS CLIENTS SYNC "label:db:stmt,stmt label:db:stmt,stmt"
ROUNDS=$1; T=$2; C=$3; SYNC=$4; SETS=$5
HERE=$(cd "$(dirname "$0")" && pwd); cd $HERE
declare -A G=([plain]=3 [lean]=1 [lean-nofilter]=1 [lean-v2]=2 [wip-lean]=5 [full]=4)
declare -A B=([plain]=30000 [lean]=10000 [lean-nofilter]=10000 [lean-v2]=50000 [wip-lean]=20000 [full]=40000)
for r in $(seq 1 $ROUNDS); do for set in $SETS; do
  IFS=: read label db stmts <<< "$set"
  for s in ${stmts//,/ }; do for sc in hot spread; do
    rt=$(psql -h 127.0.0.1 -U root -X -q -At $db -c "VACUUM ps_private_access_store" -c "select reltuples::int from pg_class where relname='ps_private_access_store'")
    if [ $sc = hot ]; then g="-D gbase=${G[$s]} -D gspan=1"; else g="-D gbase=${B[$s]} -D gspan=1000"; fi
    tps=$(PGOPTIONS="-c synchronous_commit=$SYNC" pgbench -h 127.0.0.1 -U root -n -M prepared -c $C -j 2 -T $T $g \
          -D amt=1 -D tz=UTC -D enf=true -D m=1 -f $s.pgb $db 2>&1 | awk '/^tps/{printf "%.0f", $3}')
    echo "$r,$label,$sc,$s,$tps,$rt"
  done; done
done; done
