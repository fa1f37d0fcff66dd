#!/bin/bash
# The bench's life cycle on one database: ROUNDS x (VACUUM [ANALYZE]; for each statement: pgbench
# SECONDS on its hot group, CLIENTS connections, -M prepared). Per round: reltuples/relpages after
# the VACUUM, each statement's generic-plan scans and its tps.
# usage: seq.sh DB ROUNDS SECONDS CLIENTS SYNC(on|off) ANALYZE(0|1) "plain lean"
DB=$1; ROUNDS=$2; T=$3; C=$4; SYNC=$5; AN=$6; STMTS=$7
HERE=$(cd "$(dirname "$0")" && pwd); cd $HERE
declare -A G=([plain]=3 [lean]=1 [lean-nofilter]=1 [lean-v2]=2 [wip-lean]=5 [lean-nobudget]=1 [lean-bare]=1 [full]=4)   # hot groups (bench: limit 3, package 1, statement 4)
P="psql -h 127.0.0.1 -U root -X -q -At $DB"
for r in $(seq 1 $ROUNDS); do
  if [ "$AN" = 1 ]; then $P -c "VACUUM ANALYZE ps_private_access_store"; else $P -c "VACUUM ps_private_access_store"; fi
  rel=$($P -c "select reltuples::int||' tuples/'||relpages||' pages' from pg_class where relname='ps_private_access_store'")
  sig=$(psql -h 127.0.0.1 -U root -X -q -At $DB -v g=1 -f plansig.sql | awk '/^(plain|lean|lean-nofilter)$/{n=$1; next} /Scan/{gsub(/^ *(->)? */,""); sub(/Bitmap Index Scan on ps_private_access_store_/,"BIS:"); sub(/Index Scan using ps_private_access_store_/,"IS:"); sub(/Bitmap Heap Scan.*/,"BHS"); sub(/ on ps_private_access_store.*/,""); a[n]=a[n] (a[n]?"+":"") $0} END{for(k in a) printf "%s[%s] ", k, a[k]}')
  line="round $r | $rel |"
  for s in $STMTS; do
    tps=$(PGOPTIONS="-c synchronous_commit=$SYNC" pgbench -h 127.0.0.1 -U root -n -M prepared -c $C -j 2 -T $T \
      -D gbase=${G[$s]} -D gspan=1 -D amt=1 -D tz=UTC -D enf=true -D m=1 -f $s.pgb $DB 2>&1 | awk '/^tps/{printf "%.0f", $3}')
    line="$line $s $tps |"
  done
  echo "$line $sig"
done
