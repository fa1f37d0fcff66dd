#!/bin/bash
# CPU of the PostgreSQL backend serving a c=1 pgbench of one statement: perf profile, and per
# call: backend CPU (from /proc/PID/schedstat) / commits (pg_stat_database.xact_commit).
# usage: [PGB_MODE=prepared|extended] [EXTRA_PGOPTIONS="-c plan_cache_mode=force_custom_plan"] perf_c1.sh DB STMT SECONDS OUTPREFIX [SYNC] [perf|noperf]
DB=$1; S=$2; T=$3; OUT=$4; SYNC=${5:-off}; PERF=${6:-perf}
HERE=$(cd "$(dirname "$0")" && pwd); cd $HERE
declare -A G=([plain]=3 [lean]=1 [lean-nofilter]=1 [lean-v2]=2 [wip-lean]=5 [lean-nobudget]=1 [lean-bare]=1 [full]=4)   # hot groups (bench: limit 3, package 1, statement 4)
Q="psql -h 127.0.0.1 -U root -X -At $DB -c"
$Q "VACUUM ANALYZE ps_private_access_store" >/dev/null
PGOPTIONS="-c synchronous_commit=$SYNC $EXTRA_PGOPTIONS" pgbench -h 127.0.0.1 -U root -n -M ${PGB_MODE:-prepared} -c 1 -T $((T+6)) \
  -D gbase=${G[$S]} -D gspan=1 -D amt=1 -D tz=UTC -D enf=true -D m=1 -f $S.pgb $DB > $OUT.pgbench 2>&1 &
PB=$!
sleep 1
PID=$($Q "select pid from pg_stat_activity where application_name='pgbench' and datname='$DB' limit 1")
c0=$($Q "select pg_stat_clear_snapshot(); select xact_commit from pg_stat_database where datname='$DB'" | tail -1); ns0=$(cut -d' ' -f1 /proc/$PID/schedstat)
if [ "$PERF" = perf ]; then perf record -F 2000 -g -o $OUT.data -p $PID -- sleep $T >/dev/null 2>&1; else sleep $T; fi
ns1=$(cut -d' ' -f1 /proc/$PID/schedstat); sleep 1.2   # stats are flushed at most once a second
c1=$($Q "select xact_commit from pg_stat_database where datname='$DB'")
kill -INT $PB 2>/dev/null; wait $PB
n=$((c1 - c0))
echo "$S: $(awk '/latency average/{print "latency "$4" ms"}' $OUT.pgbench), commits $n, backend CPU $(( (ns1 - ns0) / 1000 / (n>0?n:1) )) us/call"
if [ "$PERF" = perf ]; then
  perf report -i $OUT.data --children -g none --sort symbol --stdio 2>/dev/null | grep -E "^ +[0-9]" > $OUT.children
  total=$(perf report -i $OUT.data --stdio -g none 2>/dev/null | awk '/^# Samples/{print $3}')
  echo "   perf samples: $total; us/call by function (inclusive), sample = 500 us:"
  for f in PostgresMain exec_bind_message PortalRun standard_ExecutorStart ExecInitQual ExecInitModifyTable standard_ExecutorRun ExecScan ExecLockRows heap_update standard_ExecutorEnd CommitTransactionCommand __send; do
    awk -v f=$f -v n=$n -v tot="$total" 'BEGIN{t=tot; if (t ~ /K$/) t=t*1000} $4==f {printf "     %-26s %5.1f%%  ~%.0f us\n", f, $1+0, ($1/100)*t*500/n; exit}' $OUT.children
  done
fi
