#!/bin/bash
# benches/bench.mjs's PostgreSQL part replayed with pgbench, in its order, on one database per
# setup (setups interleaved run by run; each database keeps its own life cycle):
# for each scenario (hot c=1, hot 8, hot 32 in flight = 10 connections, 4 processes x 32 = 40
# connections, 1,000 random groups at 10), for each of RUNS runs, for each variant: VACUUM (as
# the bench does, never ANALYZE), 20 warm-up calls, SECONDS of closed loop.
# Variants: package = LEAN on group 1, "no coalescing" = LEAN on group 5, baseline =
# baseline.pgb (SELECT ... FOR UPDATE + UPDATE, group 2), limit = plain on group 3,
# statement = full on group 4. Spread groups: 10000.. etc. as in the bench.
# CSV: setup,scenario,run,variant,tps,reltuples,subquery_scan,outer_scan
# usage: bench_emul.sh RUNS SECONDS SYNC "label:db:leanstmt label:db:leanstmt"
RUNS=$1; T=$2; SYNC=$3; SETS=$4
HERE=$(cd "$(dirname "$0")" && pwd); cd $HERE
declare -A HOT=([package]=1 [nocoal]=5 [baseline]=2 [limit]=3 [statement]=4)
declare -A SPREAD=([package]=10000 [nocoal]=50000 [baseline]=20000 [limit]=30000 [statement]=40000)
for sc in c1 c8 c32 p4x32 spread; do
  case $sc in c1) C=1;; c8) C=8;; c32) C=10;; p4x32) C=40;; spread) C=10;; esac
  for r in $(seq 1 $RUNS); do for v in package nocoal baseline limit statement; do for set in $SETS; do
    IFS=: read label db lean <<< "$set"
    case $v in package|nocoal) f=$lean;; limit) f=plain;; statement) f=full;; baseline) f=baseline;; esac
    if [ $sc = spread ]; then g="-D gbase=${SPREAD[$v]} -D gspan=1000"; else g="-D gbase=${HOT[$v]} -D gspan=1"; fi
    rt=$(psql -h 127.0.0.1 -U root -X -q -At $db -c "VACUUM ps_private_access_store" -c "select reltuples::int from pg_class where relname='ps_private_access_store'")
    sig=""
    if [ $v = package ] && [ $sc != spread ]; then
      sig=$(psql -h 127.0.0.1 -U root -X -q -At $db -v g=1 -f plansig.sql | awk -v want=$lean '/^(plain|lean|lean-nofilter)$/{n=$1; next} n==want && /Scan/{gsub(/^ *(->)? */,""); sub(/Bitmap Index Scan on ps_private_access_store_/,"BIS:"); sub(/Index Scan using ps_private_access_store_/,"IS:"); sub(/Bitmap Heap Scan.*/,"BHS"); sub(/ on ps_private_access_store.*/,""); a=a (a?"+":"") $0} END{print a}')
    fi
    PGOPTIONS="-c synchronous_commit=$SYNC" pgbench -h 127.0.0.1 -U root -n -M prepared -c 1 -t 20 $g -D amt=1 -D tz=UTC -D enf=true -D m=1 -f $f.pgb $db >/dev/null 2>&1
    tps=$(PGOPTIONS="-c synchronous_commit=$SYNC" pgbench -h 127.0.0.1 -U root -n -M prepared -c $C -j 2 -T $T $g \
          -D amt=1 -D tz=UTC -D enf=true -D m=1 -f $f.pgb $db 2>&1 | awk '/^tps/{printf "%.0f", $3}')
    echo "$label,$sc,$r,$v,$tps,$rt,$sig"
  done; done; done
done
