// One scenario of the rotation drill on one backend: a fresh database with N keys sealed under
// the OLD pair, the load workers set up as a deployment mid-rotation, `rotate` to completion
// (complete) or kill -9'ed halfway and re-run (kill), then every check; returns its measurements
// and checks.
import { loadavg } from 'node:os'
import { sleep } from './common.mjs'
import { WORKERS, IN_FLIGHT, WORKER_NICE, WARMUP_MS, AFTER_MS, batchSizeFor } from './options.mjs'
import { OLD, NEW, cleanups, startWorkers } from './deployment.mjs'
import { ROTATOR, startRotate, runVerify } from './rotator.mjs'
import { createDb, seed, readRows, aesOf, integrity, digest, oldKeyOpens } from './database.mjs'

const fmtRate = (n, s) => (s > 0 ? Math.round(n / s) : 0)

export async function scenario(backend, kind, n) {
  const batchSize = batchSizeFor(n)
  const label = `${backend} ${kind === 'complete' ? 'A: rotate to completion' : 'B: kill -9 halfway, re-run'}`
  process.stderr.write(`\n== ${label} (${n} keys, batch ${batchSize}, ${WORKERS} workers (nice ${WORKER_NICE}) x ${IN_FLIGHT} in flight, rotator ${ROTATOR.kind}, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')})\n`)
  const checks = []
  const check = (name, pass, detail) => {
    checks.push({ name, pass: !!pass, detail })
    if (!pass) process.stderr.write(`   FAIL ${name}: ${detail}\n`)
  }
  const m = { backend, scenario: kind, keys: n, batchSize, rotator: ROTATOR.kind, loadAverageAtStart: loadavg()[0] }
  const db = await createDb(backend, kind)
  cleanups.push(db.drop)
  let workers = []
  try {
    let t = Date.now()
    await seed(db, n)
    m.seedSeconds = (Date.now() - t) / 1000
    const before = await readRows(db)
    check('seeded rows', before.length === n, `${before.length} of ${n}`)
    // The node:crypto check below must be able to tell: the old key opens every seeded row.
    const openedBefore = oldKeyOpens(before)
    check('old RSA key unwraps every seeded row (node:crypto, sanity)', openedBefore === n, `${openedBefore} of ${n}`)
    process.stderr.write(`   seeded ${before.length} keys in ${m.seedSeconds.toFixed(1)} s\n`)

    // Load: the workers, set up as a deployment mid-rotation.
    workers = startWorkers(db, n)
    const ready = await Promise.race([Promise.all(workers.map((w) => w.ready)), sleep(120000).then(() => null)])
    check('workers started', ready && ready.every(Boolean), 'a worker made no successful call (see stderr)')
    if (!(ready && ready.every(Boolean))) throw new Error('workers did not start')
    const loadStart = Date.now()
    await sleep(WARMUP_MS)

    // Rotation.
    const rotStart = Date.now()
    const rot = startRotate(db, batchSize)
    let first
    let rerun = null
    let killed = null
    if (kind === 'complete') {
      first = await rot.done
    } else {
      const midIndex = Math.floor(n / 2)
      const mid = before[midIndex]
      let exitedEarly = false
      rot.done.then(() => (exitedEarly = true))
      while (!exitedEarly) {
        const now = await aesOf(db, mid.id)
        if (now !== mid.aes) break
        await sleep(10)
      }
      const killAt = Date.now()
      const wasRunning = rot.child.exitCode === null && rot.child.signalCode === null
      if (wasRunning) rot.child.kill('SIGKILL')
      first = await rot.done
      const atKill = await readRows(db)
      const changed = atKill.filter((r, i) => r.aes !== before[i].aes).length
      // Rows are rotated in id order: the rotated ones must be a prefix.
      const prefix = atKill.findIndex((r, i) => r.aes === before[i].aes)
      killed = {
        wasRunning,
        signal: first.signal,
        secondsIntoRotate: (killAt - rotStart) / 1000,
        changed,
        midId: mid.id,
        lastProgress: rot.progress.at(-1) || null,
        prefix: prefix < 0 ? atKill.length : prefix,
        integrity: await integrity(db),
      }
      process.stderr.write(`   kill -9 at ${killed.secondsIntoRotate.toFixed(2)} s: ${changed}/${n} rows rewrapped\n`)
      check('rotate was running when killed', wasRunning && first.signal === 'SIGKILL', `running=${wasRunning}, exit ${first.code}/${first.signal}`)
      check('kill -9 landed mid-way (0 < rewrapped < N)', changed > 0 && changed < n, `${changed} of ${n} rewrapped`)
      check('rewrapped rows are an id-order prefix', killed.prefix === changed, `first unchanged row index ${killed.prefix}, changed ${changed}`)
      if (killed.integrity !== null) check('SQLite integrity_check after kill -9', killed.integrity === 'ok', killed.integrity)
      // The half-rotated state: every row opens, with the new key or (not yet) the old one.
      const half = await runVerify(db, { publicKey: NEW.publicKey, privateKey: NEW.privateKey, previous: OLD.privateKey }, batchSize)
      killed.verify = half.result
      check(
        'half-rotated state verifies (new + previous key)',
        half.code === 0 && half.result && half.result.total === n && half.result.ok === changed && half.result.previousKey === n - changed && half.result.cannotOpen.length === 0,
        `exit ${half.code}, ${JSON.stringify(half.result ?? half.error)}`,
      )
      // Re-run to completion.
      const r2 = startRotate(db, batchSize)
      rerun = await r2.done
      killed.rerunWallSeconds = (rerun.ended - r2.started) / 1000
      killed.killToCompleteSeconds = (rerun.ended - killAt) / 1000
      process.stderr.write(`   re-run: ${JSON.stringify(rerun.result)}\n`)
      check('re-run exits 0', rerun.code === 0, `exit ${rerun.code}/${rerun.signal} ${JSON.stringify(rerun.error)}`)
      check(
        're-run rewraps exactly the rows left, skips the rest',
        rerun.result && rerun.result.total === n && rerun.result.rotated === n - changed && rerun.result.alreadyCurrent === changed && rerun.result.cannotOpen.length === 0 && !(rerun.result.changedMeanwhile > 0),
        JSON.stringify(rerun.result),
      )
    }
    const rotEnd = Date.now()
    if (kind === 'complete') {
      check('rotate exits 0', first.code === 0, `exit ${first.code}/${first.signal} ${JSON.stringify(first.error)} ${first.err.slice(-300)}`)
      check(
        'rotate rewraps every row',
        first.result && first.result.total === n && first.result.rotated === n && first.result.alreadyCurrent === 0 && first.result.cannotOpen.length === 0 && !(first.result.changedMeanwhile > 0),
        JSON.stringify(first.result),
      )
      m.rotateSeconds = first.result?.seconds
      m.rotateWallSeconds = (first.ended - first.started) / 1000
      m.rotateRowsPerSecond = fmtRate(n, m.rotateSeconds)
      m.rotateWallRowsPerSecond = fmtRate(n, m.rotateWallSeconds)
      m.progressLines = rot.progress.length
    } else {
      m.killed = killed
      m.rerun = rerun.result
      m.rerunRowsPerSecond = rerun.result ? fmtRate(rerun.result.total, rerun.result.seconds) : null
    }
    await sleep(AFTER_MS)

    // Stop the load and collect the workers' reports.
    const stopAt = Date.now()
    const reports = await Promise.all(workers.map((w) => w.stop()))
    workers = []
    const errors = {}
    const messages = {}
    const perGroup = new Map()
    let ok = 0
    const times = []
    const bad = reports.filter(({ exit, report }) => !(exit.code === 0 && report))
    check(`${WORKERS} workers exit cleanly with a report`, bad.length === 0, JSON.stringify(bad.map((b) => b.exit)))
    for (const { report } of reports) {
      if (!report) continue
      ok += report.ok
      for (const x of report.okTimes) times.push(x)
      for (const [k, v] of Object.entries(report.errors)) errors[k] = (errors[k] || 0) + v
      Object.assign(messages, report.messages)
      for (const [g, c] of Object.entries(report.perGroup)) perGroup.set(Number(g), (perGroup.get(Number(g)) || 0) + c)
    }
    const failed = Object.values(errors).reduce((a, b) => a + b, 0)
    const within = (a, b) => times.filter((x) => x >= a && x < b).length
    m.calls = { ok, failed, errors, messages }
    m.callsBeforeRotate = within(loadStart, rotStart)
    m.callsDuringRotate = within(rotStart, rotEnd)
    m.callsAfterRotate = within(rotEnd, stopAt + 1e9)
    m.callRateBefore = fmtRate(m.callsBeforeRotate, (rotStart - loadStart) / 1000)
    m.callRateDuring = fmtRate(m.callsDuringRotate, (rotEnd - rotStart) / 1000)
    m.rotateWindowSeconds = (rotEnd - rotStart) / 1000
    check('0 failed calls', failed === 0, `${failed} failed: ${JSON.stringify(errors)} ${JSON.stringify(messages)}`)
    if (WORKERS > 0) check('calls were made while rotate ran', m.callsDuringRotate > 0, `${m.callsDuringRotate}`)

    // The database afterwards, read directly.
    const after = await readRows(db)
    check('same rows afterwards', after.length === n && after.every((r, i) => r.id === before[i].id), `${after.length} rows`)
    const lost = []
    let counted = 0
    for (const r of after) {
      counted += r.totalUse
      const made = perGroup.get(r.group) || 0
      if (r.totalUse !== made) lost.push({ id: r.id, totalUse: r.totalUse, calls: made })
    }
    const incremented = [...perGroup.values()].reduce((a, b) => a + b, 0)
    m.accounting = { incrementedByWorkers: incremented, sumTotalUse: counted, rowsOff: lost.length }
    check('0 lost increments (every row: usage.totalUse == its calls)', lost.length === 0 && counted === incremented, `sum ${counted} vs calls ${incremented}; rows off: ${JSON.stringify(lost.slice(0, 5))}`)
    const apiBefore = digest(before, 'api')
    const apiAfter = digest(after, 'api')
    m.encryptedApiKeySha256 = apiAfter
    check('encrypted_api_key byte-identical (sha256 over all rows)', apiBefore === apiAfter, `${apiBefore} -> ${apiAfter}`)
    const aesChanged = after.filter((r, i) => r.aes !== before[i]?.aes).length
    m.aesChanged = aesChanged
    check('every encrypted_aes_key changed', aesChanged === n, `${aesChanged} of ${n}`)
    if (backend === 'sqlite') {
      const ic = await integrity(db)
      check('SQLite integrity_check at the end', ic === 'ok', ic)
    }

    // verify with ONLY the new private key; the old key alone must open nothing.
    t = Date.now()
    const v = await runVerify(db, { publicKey: NEW.publicKey, privateKey: NEW.privateKey }, batchSize)
    m.verifyNewOnly = v.result
    m.verifySeconds = (Date.now() - t) / 1000
    check(
      'verify with only the new key: every row ok',
      v.code === 0 && v.result && v.result.total === n && v.result.ok === n && v.result.previousKey === 0 && v.result.cannotOpen.length === 0,
      `exit ${v.code}, ${JSON.stringify(v.result ?? v.error)}`,
    )
    const vOld = await runVerify(db, { privateKey: OLD.privateKey }, batchSize)
    m.verifyOldOnly = vOld.result && { ...vOld.result, cannotOpen: vOld.result.cannotOpen.length }
    check(
      'verify with only the old key: no row opens',
      vOld.result && vOld.result.ok === 0 && vOld.result.cannotOpen.length === n && (ROTATOR.kind === 'lib' || vOld.code === 1),
      `exit ${vOld.code}, ${JSON.stringify(m.verifyOldOnly ?? vOld.error)}`,
    )
    const opens = oldKeyOpens(after)
    check('old RSA key unwraps no encrypted_aes_key (node:crypto)', opens === 0, `${opens} rows`)
  } catch (e) {
    check('scenario ran', false, e.stack || String(e))
    await Promise.all(workers.map((w) => w.stop().catch(() => {})))
  } finally {
    cleanups.splice(cleanups.indexOf(db.drop), 1)
    await db.drop()
  }
  m.checks = checks
  m.pass = checks.every((c) => c.pass)
  m.loadAverageAtEnd = loadavg()[0]
  return m
}
