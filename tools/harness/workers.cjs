// Worker processes for the specs, the drills and the bench. Parent side: start a process
// (usually `node <script> <args>`), collect its output, read its one-line JSON report; start
// several, let them load and connect, release them together with "go" on stdin; kill those
// still running at clean-up. Worker side: wait for "go", hand the report over before exiting.
'use strict'
const { spawn } = require('node:child_process')

const live = new Set() // started and not yet closed

/** The worker's report: the first line of its stdout that is a JSON object (null if none). */
function parseReport(out) {
  const line = out.split('\n').find((l) => l.startsWith('{'))
  return line === undefined ? null : JSON.parse(line)
}

/**
 * Start `command argv`. Options: env, cwd, stdin ('ignore' | 'pipe': needed for go()),
 * stdout / stderr ('pipe': collected | 'inherit'), ipc (a message channel, as fork's),
 * nice (run under `nice -n N` when N > 0), onStdout / onStderr (called with each chunk).
 * Returns { child, started, output() (stdout so far), go(), exited, done }: `exited` resolves
 * once the process has closed with { code, signal, out, err, started, ended }; `done` (made
 * when first read) resolves to its report and rejects if it exited non-zero or printed none.
 */
function startProcess(command, argv, { env = process.env, cwd, stdin = 'ignore', stdout = 'pipe', stderr = 'pipe', ipc = false, nice = 0, onStdout, onStderr } = {}) {
  const started = Date.now()
  const [file, args] = nice > 0 ? ['nice', ['-n', String(nice), command, ...argv]] : [command, argv]
  const child = spawn(file, args.map(String), { env, cwd, stdio: [stdin, stdout, stderr, ...(ipc ? ['ipc'] : [])] })
  live.add(child)
  let out = ''
  let err = ''
  if (child.stdout) {
    child.stdout.on('data', (d) => {
      out += d
      if (onStdout) onStdout(String(d))
    })
  }
  if (child.stderr) {
    child.stderr.on('data', (d) => {
      err += d
      if (onStderr) onStderr(String(d))
    })
  }
  const exited = new Promise((resolve) =>
    child.on('close', (code, signal) => {
      live.delete(child)
      resolve({ code, signal, out, err, started, ended: Date.now() })
    }),
  )
  let done
  return {
    child,
    started,
    exited,
    output: () => out,
    go: () => child.stdin.write('go\n'),
    get done() {
      done ??= exited.then(({ code }) => {
        const report = code === 0 ? parseReport(out) : null
        if (report === null) throw new Error(`child exited ${code}: ${err || out.slice(-500)}`)
        return report
      })
      return done
    },
  }
}

/** `node script args` as a worker: startProcess with this Node, stdin piped for go(). */
const startWorker = (script, args, options = {}) => startProcess(process.execPath, [script, ...args], { stdin: 'pipe', ...options })

/** Start `count` workers with start(i), wait until they have loaded, release them together, collect their reports. */
async function runTogether(count, start, settleMs = 1500) {
  const workers = Array.from({ length: count }, (_, i) => start(i))
  await new Promise((r) => setTimeout(r, settleMs))
  workers.forEach((w) => w.go())
  return Promise.all(workers.map((w) => w.done))
}

/** SIGKILL every started process that has not closed yet (clean-up after a failure or a signal). */
function killAll() {
  for (const child of live) {
    try {
      child.kill('SIGKILL')
    } catch {}
  }
}

// ---------------------------------------------------------------- worker side
/** Wait for the parent's "go" on stdin. */
const waitForGo = () => new Promise((resolve) => process.stdin.once('data', resolve))

/** Print the report as one JSON line and wait until it is handed over: stdout is a pipe, written asynchronously, and exit() would cut it short. */
const writeReport = (report) => new Promise((resolve) => process.stdout.write('\n' + JSON.stringify(report) + '\n', resolve))

module.exports = { startProcess, startWorker, runTogether, killAll, parseReport, waitForGo, writeReport }
