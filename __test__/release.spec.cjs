// The release layout: scripts/check-release-workflow.mjs holds the GitHub Actions build matrix,
// package.json `napi.targets` and npm/*/package.json together (and lints the workflow with
// actionlint where it is installed), and it notices a matrix that drifts from the targets.
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const ROOT = path.resolve(__dirname, '..')
const SCRIPT = path.join(ROOT, 'scripts/check-release-workflow.mjs')
const WORKFLOW = path.join(ROOT, '.github/workflows/release.yml')
const { napi } = require('../package.json')

function check(...args) {
  const run = spawnSync(process.execPath, [SCRIPT, ...args], { cwd: ROOT, encoding: 'utf8' })
  return { status: run.status, output: `${run.stdout}${run.stderr}` }
}

/** The workflow with the build-matrix entry of `target` removed (its `- target:` line and the
 * deeper-indented lines of the same entry). */
function withoutTarget(text, target) {
  const lines = text.split('\n')
  const at = lines.findIndex((l) => new RegExp(`^\\s*-\\s+target:\\s*${target}\\s*$`).test(l))
  if (at < 0) throw new Error(`no matrix entry for ${target}`)
  const dash = lines[at].indexOf('-')
  let end = at + 1
  while (end < lines.length && lines[end].trim() !== '' && lines[end].search(/\S/) > dash) end++
  return [...lines.slice(0, at), ...lines.slice(end)].join('\n')
}

let tmp
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pspas-release-'))
})
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

describe('release workflow', () => {
  test('the build matrix is package.json napi.targets and each target has its npm/ package', () => {
    const { status, output } = check()
    expect(output).toContain('OK')
    expect(status).toBe(0)
  })

  test('a matrix that lost a target fails, naming that target', () => {
    const dropped = 'aarch64-unknown-linux-musl'
    expect(napi.targets).toContain(dropped)
    const copy = path.join(tmp, 'missing.yml')
    fs.writeFileSync(copy, withoutTarget(fs.readFileSync(WORKFLOW, 'utf8'), dropped))
    const { status, output } = check('--workflow', copy)
    expect(status).toBe(1)
    expect(output).toContain(`build matrix is missing target ${dropped}`)
    // Only that one: the other six are still there.
    expect(output.match(/is missing target/g)).toHaveLength(1)
  })

  test('a matrix with a target package.json does not list fails, naming it', () => {
    const extra = 'riscv64gc-unknown-linux-gnu'
    const text = fs.readFileSync(WORKFLOW, 'utf8')
    const copy = path.join(tmp, 'extra.yml')
    fs.writeFileSync(
      copy,
      text.replace(/^(\s*)- target: x86_64-unknown-linux-gnu$/m, `$1- target: ${extra}\n$1  host: ubuntu-latest\n$&`),
    )
    const { status, output } = check('--workflow', copy)
    expect(status).toBe(1)
    expect(output).toContain(`build matrix has target ${extra}`)
  })
})
