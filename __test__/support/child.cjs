// Child processes for the multi-process specs: start a support script, let it load and connect,
// then release all children at once with "go" on stdin; each prints one JSON line and exits 0.
'use strict'
const { spawn } = require('node:child_process')

/** Start `script` with `args`; returns { go(), done } where done resolves to its JSON output. */
function startChild(script, args, env) {
  const child = spawn(process.execPath, [script, ...args.map(String)], { env, stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (err += d))
  const done = new Promise((resolve, reject) =>
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim())) : reject(new Error(`child exited ${code}: ${err}`)))),
  )
  return { go: () => child.stdin.write('go\n'), done }
}

/** Start `count` children, wait until they have loaded, release them together, collect. */
async function runTogether(count, start) {
  const children = Array.from({ length: count }, start)
  await new Promise((r) => setTimeout(r, 1500))
  children.forEach((c) => c.go())
  return Promise.all(children.map((c) => c.done))
}

module.exports = { startChild, runTogether }
