#!/bin/bash
# Reproduces FINDINGS.md. Needs psql, pgbench, python3 (perf optional) and the local
# PostgreSQL 15 (root@127.0.0.1:5432, trust). Creates databases pspas_an_* / pspas_analysis*,
# drops them at the end (KEEP=1 keeps them). Results: $OUT (default /tmp/pspas_analysis_results).
# Durations are short on purpose; the machine is shared: every A/B is interleaved, medians.
set -u
HERE=$(cd "$(dirname "$0")" && pwd); cd "$HERE"
OUT=${OUT:-/tmp/pspas_analysis_results}; mkdir -p "$OUT"
P="psql -h 127.0.0.1 -U root -X -q"
say() { echo; echo "### $*" | tee -a "$OUT/log.txt"; }
mkdb() { $P test -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null 2>&1; $P "$1" -f "$2" >/dev/null 2>&1; }
IX="CREATE INDEX IF NOT EXISTS ps_private_access_store_group_model_id ON ps_private_access_store (group_id, ai_model_id, id)"

say "0. statements (transcribed from src/store/pg.rs at HEAD, checked against benches/increment-pg.sql at HEAD)"
python3 gen_sql.py && python3 gen_ablation.py && python3 gen_pgbench.py
[ -f ../../sql/postgres/increment_lean.sql ] && python3 assemble_wip.py
python3 "$HERE/fsync_probe.py" 0 3 | tee "$OUT/fsync_start.txt"

say "1. plans: bench data (no statistics) and 10,000 groups x 3 keys (analyzed), custom vs generic"
mkdb pspas_analysis seed-bench.sql; mkdb pspas_analysis_big seed-big.sql
for db in pspas_analysis pspas_analysis_big; do g=3; [ $db = pspas_analysis_big ] && g=105000
  for m in force_custom_plan force_generic_plan; do $P $db -v g=$g -v mode=$m -f explain.sql > "$OUT/explain_${db}_$m.txt" 2>&1; done
  $P $db -v g=$g -f plancache.sql > "$OUT/plancache_$db.txt" 2>&1
done

say "2. hot row under hammering: 2 s timeline (sync commit off), bench data, no index vs (group_id, ai_model_id, id)"
mkdb pspas_an_base seed-bench.sql; mkdb pspas_an_ix3 seed-bench.sql; $P pspas_an_ix3 -c "$IX"
./hot_watch.sh pspas_an_base plain 3 10 20 prepared "-c synchronous_commit=off" > "$OUT/hot_watch_base_plain.txt" 2>&1
./hot_watch.sh pspas_an_ix3 plain 3 10 20 prepared "-c synchronous_commit=off" > "$OUT/hot_watch_ix3_plain.txt" 2>&1
./hot_watch.sh pspas_an_base plain 3 10 12 prepared "" > "$OUT/hot_watch_base_plain_synccommit_on.txt" 2>&1

say "3. variants, hot key, 10 connections, 10 s, interleaved x3"
./variants.sh >/dev/null 2>&1
./hot_ab.sh 3 10 10 prepared off "plain lean" "base analyze ix3 ff70 ix3ff" > "$OUT/hot_ab.csv"
python3 summarize.py < "$OUT/hot_ab.csv" > "$OUT/hot_ab.md"
./hot_ab.sh 2 6 10 extended off "plain lean" "base ix3" > "$OUT/hot_ab_extended.csv"
python3 summarize.py < "$OUT/hot_ab_extended.csv" > "$OUT/hot_ab_extended.md"

say "4. VACUUM-only life cycle: reltuples decay and plan flips (12 rounds of 2 s)"
mkdb pspas_an_seqbase seed-bench.sql; mkdb pspas_an_seqfix seed-bench.sql; $P pspas_an_seqfix -c "$IX"; mkdb pspas_an_seqan seed-bench.sql
./seq.sh pspas_an_seqbase 12 2 10 off 0 "plain lean lean-nofilter" > "$OUT/seq_base.txt"
./seq.sh pspas_an_seqfix 12 2 10 off 0 "plain lean lean-nofilter" > "$OUT/seq_ix3.txt"
./seq.sh pspas_an_seqan 12 2 10 off 1 "plain lean lean-nofilter" > "$OUT/seq_vacuum_analyze.txt"
for db in pspas_an_seqbase pspas_an_seqfix; do for m in force_custom_plan force_generic_plan; do
  $P $db -v g=1 -v mode=$m -f explain.sql > "$OUT/explain_decayed_${db}_$m.txt" 2>&1; done; done

say "5. the bench replayed (before: as is; after: + index, lean without the redundant outer filter)"
mkdb pspas_an_beb seed-bench.sql; mkdb pspas_an_bea seed-bench.sql; $P pspas_an_bea -c "$IX"
./bench_emul.sh 3 2 off "before:pspas_an_beb:lean after:pspas_an_bea:lean-nofilter" > "$OUT/bench_emul.csv"
python3 summarize_emul.py < "$OUT/bench_emul.csv" > "$OUT/bench_emul.md"

say "6. one call in flight: server CPU per call and latency, interleaved x5; plan modes; perf"
mkdb pspas_an_fresh seed-bench.sql; mkdb pspas_an_fix seed-bench.sql; $P pspas_an_fix -c "$IX" -c "ANALYZE ps_private_access_store"
S="pspas_an_fix:plain pspas_an_fix:lean pspas_an_fix:lean-nofilter pspas_an_fix:lean-bare pspas_an_fix:lean-v2 pspas_an_fix:full pspas_an_fresh:plain pspas_an_fresh:lean"
[ -f wip-lean.pgb ] && S="$S pspas_an_fix:wip-lean"
./cpu_ab.sh 5 4 off "$S" > "$OUT/cpu_c1.csv"; python3 summarize_cpu.py < "$OUT/cpu_c1.csv" > "$OUT/cpu_c1.md"
./mode_ab.sh 3 4 pspas_an_fix "plain lean full" > "$OUT/mode.csv"; python3 summarize_cpu.py < "$OUT/mode.csv" > "$OUT/mode.md"
if command -v perf >/dev/null; then for s in plain lean; do ./perf_c1.sh pspas_an_fix $s 6 "$OUT/perf_$s" off perf > "$OUT/perf_$s.txt"; done; fi

say "7. 1,000 groups, random group per call, 10 connections, interleaved x3"
mkdb pspas_an_sfresh seed-bench.sql; mkdb pspas_an_sfix seed-bench.sql; $P pspas_an_sfix -c "$IX" -c "ANALYZE ps_private_access_store"
./spread_ab.sh 3 5 10 prepared off "pspas_an_sfresh pspas_an_sfix" "plain lean lean-nofilter full" > "$OUT/spread.csv"
grep -v '^#' "$OUT/spread.csv" | python3 summarize_c1.py > "$OUT/spread.md"; grep '^#' "$OUT/spread.csv" >> "$OUT/spread.md"
for db in pspas_an_sfresh pspas_an_sfix; do $P $db -v g=10500 -v mode=force_generic_plan -f explain.sql > "$OUT/explain_random_$db.txt" 2>&1; done

python3 "$HERE/fsync_probe.py" 0 3 | tee "$OUT/fsync_end.txt"
if [ "${KEEP:-0}" != 1 ]; then
  for db in $($P -At test -c "select datname from pg_database where datname like 'pspas\_an\_%' or datname like 'pspas\_analysis%'"); do
    $P test -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"; done
fi
echo "results in $OUT"
