// The key-rotation drill (issue 10): RSA key rotation on real databases, under load, with the
// accounting and the ciphertexts checked.
//
//   node tools/drills/rotation.mjs [--backend pg|sqlite] [--keys N] [--short]
//        [--rotator auto|cli|lib] [--scenario both|complete|kill] [--workers 4] [--in-flight 8]
//        [--batch-size N] [--worker-nice N] [--budgets] [--no-key-cache] [--keep]
//
// Without --backend both backends run: PostgreSQL with 10,000 keys, SQLite with 1,000
// (--short: 300 and 200; --keys N sets N for the backend(s) run).
//
// For each backend, two scenarios, each on a fresh database (PostgreSQL: CREATE DATABASE
// pspas_drill_<pid>_<scenario>, dropped at the end; SQLite: a temporary file):
//   complete  N keys (one per group) sealed under the OLD key pair; 4 worker processes, set up as
//             a deployment mid-rotation (RSA_API_ENCRYPTION_PRIVATE_KEY = new,
//             RSA_API_ENCRYPTION_PREVIOUS_PRIVATE_KEYS = old), keep 8 calls each of
//             incrementUsageAndGetApiKey(random group, { aiModelId }) in flight, checking every
//             plaintext; meanwhile `rotate` runs to completion in its own process.
//   kill      the same, but `rotate` is kill -9'ed once the middle row is rewrapped (polled with
//             one cheap point query); the half-rotated state is verified (current + previous
//             key), then `rotate` is run again to completion.
// `rotate` / `verify` are the operator CLI (bin/ps-access-store.mjs rotate|verify --json) when
// it is there and works (--rotator auto, the default), else (--rotator lib) a child process
// (rotation/lib-rotator.mjs) calling PsPrivateAccessStore.rotateKeys() / verifyKeys(); both are
// configured by the environment variables only, like a deployment.
//
// Checks (the run exits 1 if any fails): 0 failed calls (rejections, null, wrong plaintext);
// 0 lost increments (every row's usage.totalUse equals the successful calls the workers made on
// its group); rotate's counts; `verify` with ONLY the new private key: every row ok; the old
// private key alone opens no row; every encrypted_api_key byte-identical before and after, and
// every encrypted_aes_key changed; after kill -9: the half-rotated state verifies and the re-run
// rewraps exactly the rows left (SQLite: PRAGMA integrity_check).
//
// The workers run under `nice -n 10` by default (--worker-nice 0: same priority as everything
// else): on a small shared machine, 32 calls in flight over thousands of keys (the key cache
// holds 1,000) keep every core busy with RSA decryptions and would starve `rotate`, which in a
// deployment runs in its own process, usually on its own host. The workers still keep their
// calls in flight throughout; they just yield the CPU to `rotate` and the database first.
//
// Needs a local PostgreSQL (PSPAS_TEST_PG_URL, default postgres://root@127.0.0.1:5432/test, a
// role that may CREATE DATABASE) and the sqlite3 command-line shell (reads the SQLite file
// directly).
//
// The parts, in rotation/: options.mjs (this command line), deployment.mjs (keys, environments,
// load workers, clean-up), worker.mjs (a load worker), rotator.mjs and lib-rotator.mjs (rotate /
// verify), database.mjs (fresh databases, seeding, reading rows back), scenario.mjs (one
// scenario and its checks). Databases, keys and processes come from tools/harness.
import { args, BACKEND, SCENARIOS, KEYS, WORKERS, IN_FLIGHT, WORKER_NICE, KEY_CACHE, BUDGETS } from './rotation/options.mjs'
import { cleanUp } from './rotation/deployment.mjs'
import { ROTATOR, chooseRotator } from './rotation/rotator.mjs'
import { scenario } from './rotation/scenario.mjs'

// ------------------------------------------------------------------ run
await chooseRotator()
const backends = BACKEND === 'both' ? ['pg', 'sqlite'] : [BACKEND]
const results = []
try {
  for (const b of backends) for (const s of SCENARIOS) results.push(await scenario(b, s, KEYS[b]))
} finally {
  await cleanUp()
}

const cmd = `node tools/drills/rotation.mjs ${args.join(' ')}`.trim()
const lines = []
const p = (s = '') => lines.push(s)
p(`# ${cmd}`)
p(`node ${process.version}, ${WORKERS} worker processes (nice ${WORKER_NICE}) x ${IN_FLIGHT} calls in flight (incrementUsageAndGetApiKey, random group of N, one key each), key cache ${KEY_CACHE ? 'on' : 'off'}, budgets ${BUDGETS ? 'configured (huge)' : 'none'}`)
p(`rotator: ${ROTATOR.kind} (${ROTATOR.why})`)
p()
p('| backend | scenario | keys | batch | rotate | rows/s | calls during rotate (calls/s; before: calls/s) | failed calls | lost increments | verify new key only | old key alone opens | api ciphertexts identical | aes keys changed | result |')
p('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|')
for (const r of results) {
  const rot =
    r.scenario === 'complete'
      ? `${r.rotateSeconds?.toFixed(2)} s (wall ${r.rotateWallSeconds?.toFixed(2)} s)`
      : r.killed
        ? `kill -9 at ${r.killed.secondsIntoRotate.toFixed(2)} s with ${r.killed.changed}/${r.keys} rewrapped; re-run: ${r.rerun?.rotated} rotated + ${r.rerun?.alreadyCurrent} already current in ${r.rerun?.seconds?.toFixed(2)} s (wall ${r.killed.rerunWallSeconds?.toFixed(2)} s; kill to complete incl. interim verify ${r.killed.killToCompleteSeconds?.toFixed(2)} s)`
        : '-'
  const rate = r.scenario === 'complete' ? `${r.rotateRowsPerSecond} (wall ${r.rotateWallRowsPerSecond})` : `${r.rerunRowsPerSecond ?? '-'} (re-run)`
  const v = r.verifyNewOnly
  const vo = r.verifyOldOnly
  p(
    `| ${r.backend} | ${r.scenario === 'complete' ? 'A complete' : 'B kill -9 + re-run'} | ${r.keys} | ${r.batchSize} | ${rot} | ${rate} | ${r.callsDuringRotate ?? '-'} (${r.callRateDuring ?? '-'}/s; ${r.callRateBefore ?? '-'}/s) | ${r.calls ? `${r.calls.failed} of ${r.calls.ok + r.calls.failed}` : '-'} | ${r.accounting ? `${r.accounting.rowsOff} rows off; sum totalUse ${r.accounting.sumTotalUse} = calls ${r.accounting.incrementedByWorkers}` : '-'} | ${v ? `total ${v.total}, ok ${v.ok}, previousKey ${v.previousKey}, cannotOpen ${v.cannotOpen.length}` : '-'} | ${vo ? `${vo.ok} ok, ${vo.cannotOpen} cannot open` : '-'} | ${r.encryptedApiKeySha256 ? 'yes' : '-'} | ${r.aesChanged ?? '-'}/${r.keys} | ${r.pass ? 'PASS' : 'FAIL'} |`,
  )
}
p()
for (const r of results) {
  p(`## ${r.backend} ${r.scenario}: ${r.checks.filter((c) => c.pass).length}/${r.checks.length} checks pass`)
  for (const c of r.checks) p(`- ${c.pass ? 'ok  ' : 'FAIL'} ${c.name}${c.pass ? '' : ` — ${c.detail}`}`)
  if (r.killed) {
    p(`- kill point: ${r.killed.changed}/${r.keys} rows rewrapped, ${r.killed.secondsIntoRotate.toFixed(2)} s into rotate (detected by polling row ${r.killed.midId}'s encrypted_aes_key); interim verify ${JSON.stringify(r.killed.verify && { ...r.killed.verify, cannotOpen: r.killed.verify.cannotOpen.length })}${r.killed.integrity ? `; integrity_check ${r.killed.integrity}` : ''}`)
  }
  p(`- seed ${r.seedSeconds?.toFixed(1)} s; calls: ${r.callsBeforeRotate} before rotate, ${r.callsDuringRotate} during (${r.rotateWindowSeconds?.toFixed(2)} s), ${r.callsAfterRotate} after; verify (new key only) ${r.verifySeconds?.toFixed(2)} s; machine load average ${r.loadAverageAtStart.toFixed(1)} at start, ${r.loadAverageAtEnd.toFixed(1)} at end (2 cores)`)
}
const pass = results.length > 0 && results.every((r) => r.pass)
p()
p(pass ? 'ALL CHECKS PASS' : 'SOME CHECKS FAILED')
console.log(lines.join('\n'))
process.exit(pass ? 0 : 1)
