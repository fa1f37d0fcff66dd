// The package as a PolicySynth project gets it: `npm pack`, installed from the tarball into a
// fresh TypeScript project (ESM, Node 20), the documentation's Example compiled with
// `tsc --strict` (only the import path changed) and run on PostgreSQL and on SQLite; and jest
// suites written the way PolicySynth writes them (variables assigned on process.env inside the
// test file, console spies, toBeInstanceOf) run there with the project's own jest.
'use strict'
const { execFileSync, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { freshPostgres, freshSqlite } = require('./support/db.cjs')
const { generateKeys } = require('./support/original-crypto.cjs')

// The compiled JS entry: one module per concept of lib/ (see the README's Layout), each with
// its typings.
const DIST = ['args', 'errors', 'events', 'index', 'native', 'outbox', 'records', 'rotation', 'settings', 'settings.generated', 'store', 'types']
  .flatMap((m) => [`${m}.d.ts`, `${m}.js`])
  .sort()

const ROOT = path.resolve(__dirname, '..')
const EXAMPLE = fs.readFileSync(path.join(__dirname, 'fixtures/doc-example.ts'), 'utf8')
const SPEC = path.resolve(ROOT, '../shared/spec/PsPrivateAccessStore.md')

let project
let keys

beforeAll(() => {
  project = fs.mkdtempSync(path.join(os.tmpdir(), 'pspas-consumer-'))
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', project], { cwd: ROOT, encoding: 'utf8' })
  const tarball = path.join(project, JSON.parse(out)[0].filename)
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
  // --prefer-offline, not --offline: the CLI's dependencies (commander, cli-progress, read) are
  // resolved by range, which needs their registry metadata; `npm ci` caches only tarballs.
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: project, stdio: 'pipe' })
  fs.writeFileSync(
    path.join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        lib: ['ES2022', 'DOM'],
        types: [],
        skipLibCheck: false,
        outDir: 'dist',
      },
      files: ['example.ts'],
    }),
  )
  fs.writeFileSync(path.join(project, 'example.ts'), EXAMPLE)
  keys = generateKeys()
})

afterAll(() => fs.rmSync(project, { recursive: true, force: true }))

describe('packed tarball', () => {
  test('the fixture is the documentation Example with only the import path changed', () => {
    if (!fs.existsSync(SPEC)) return // the spec lives beside the repository, not in it
    const doc = fs.readFileSync(SPEC, 'utf8')
    const block = doc.split('## Example')[1].split('```typescript')[1].split('```')[0]
    const original = block.replace("'@policysynth/agents/dbModels/privateAccessStore.js'", "'@policysynth/private-access-store'")
    expect(EXAMPLE.trim()).toBe(original.trim())
  })

  test('ships the binary, the loader, the JS entry and the typings, nothing else of the repository', () => {
    const dir = path.join(project, 'node_modules/@policysynth/private-access-store')
    const files = fs.readdirSync(dir).sort()
    expect(files).toEqual(expect.arrayContaining(['LICENSE', 'dist', 'native.d.ts', 'native.js', 'package.json']))
    expect(fs.readdirSync(path.join(dir, 'dist')).sort()).toEqual(DIST)
    expect(files.some((f) => f.endsWith('.node'))).toBe(true)
    for (const f of ['src', 'lib', '__test__', 'tests', 'target', 'Cargo.toml', 'benches']) expect(files).not.toContain(f)
  })

  test('the Example compiles under tsc --strict', () => {
    const tsc = path.join(ROOT, 'node_modules/.bin/tsc')
    execFileSync(tsc, ['-p', project], { cwd: project, encoding: 'utf8' })
    expect(fs.existsSync(path.join(project, 'dist/example.js'))).toBe(true)
  })

  test('a type error in the caller is reported (the typings are real)', () => {
    const bad = path.join(project, 'bad.ts')
    fs.writeFileSync(bad, "import { PsPrivateAccessStore } from '@policysynth/private-access-store';\nawait PsPrivateAccessStore.getUsage('1');\n")
    const tsc = path.join(ROOT, 'node_modules/.bin/tsc')
    let out = ''
    try {
      execFileSync(tsc, ['--strict', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--noEmit', bad], { cwd: project, encoding: 'utf8' })
    } catch (e) {
      out = String(e.stdout)
    }
    expect(out).toMatch(/TS2345/)
  })

  test('npm pack ships only what a user needs', () => {
    const [{ files }] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json'], { cwd: ROOT, encoding: 'utf8' }))
    const paths = files.map((f) => f.path).sort()
    const cli = ['errors.mjs', 'library.mjs', 'main.mjs', 'options.mjs', 'output.mjs'].map((f) => `cli/${f}`)
    const commands = ['add', 'bind', 'budget', 'enable-disable', 'events', 'keygen', 'list', 'migrate', 'rotate', 'status', 'verify'].map((c) => `cli/commands/${c}.mjs`)
    expect(paths.filter((p) => !p.endsWith('.node'))).toEqual(['LICENSE', 'README.md', 'bin/ps-access-store.mjs', ...commands, ...cli, ...DIST.map((f) => `dist/${f}`), 'native.d.ts', 'native.js', 'package.json'])
    expect(paths.filter((p) => p.endsWith('.node'))).toEqual([expect.stringMatching(/^private-access-store\.[a-z0-9-]+\.node$/)])
  })

  test('without the binary, the error names the platform, the expected package and the two remedies', () => {
    const pkg = path.join(project, 'node_modules/@policysynth/private-access-store')
    const binary = fs.readdirSync(pkg).find((f) => f.endsWith('.node'))
    fs.renameSync(path.join(pkg, binary), path.join(project, binary))
    try {
      const script = "try { require('@policysynth/private-access-store') } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, cause: Boolean(e.cause) })) }"
      const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: project, encoding: 'utf8' }))
      const triple = binary.replace(/^private-access-store\.|\.node$/g, '')
      expect(out.code).toBe('PSPAS_NATIVE_BINDING_MISSING')
      expect(out.cause).toBe(true)
      expect(out.message).toContain(`this platform (${triple})`)
      expect(out.message).toContain(`@policysynth/private-access-store-${triple}`)
      expect(out.message).toContain('optional dependencies')
      expect(out.message).toContain('npm run build')
    } finally {
      fs.renameSync(path.join(project, binary), path.join(pkg, binary))
    }
  })

  test('the operator CLI is installed as a bin: `npx ps-access-store` runs from the project', () => {
    const bin = path.join(project, 'node_modules/.bin/ps-access-store')
    expect(fs.existsSync(bin)).toBe(true)
    const help = spawnSync(bin, ['--help'], { cwd: project, encoding: 'utf8' })
    expect(help.status).toBe(0)
    expect(help.stdout).toContain('Usage: ps-access-store')
    const usage = spawnSync(bin, ['list'], { cwd: project, encoding: 'utf8' })
    expect(usage.status).toBe(2)
    expect(usage.stderr).toMatch(/^error PSPAS_USAGE: /m)
  })

  test('loads with require as well as import', () => {
    const out = execFileSync(process.execPath, ['-e', "console.log(typeof require('@policysynth/private-access-store').PsPrivateAccessStore.incrementUsageAndGetApiKey)"], { cwd: project, encoding: 'utf8' })
    expect(out.trim()).toBe('function')
  })

  const run = (databaseUrl) =>
    execFileSync(process.execPath, ['dist/example.js'], {
      cwd: project,
      encoding: 'utf8',
      env: {
        ...process.env,
        DATABASE_URL: databaseUrl,
        RSA_API_ENCRYPTION_PUBLIC_KEY: keys.publicKey,
        RSA_API_ENCRYPTION_PRIVATE_KEY: keys.privateKey,
      },
      timeout: 60000,
    })

  test.each([
    ['postgres', freshPostgres],
    ['sqlite', freshSqlite],
  ])('the compiled Example runs on %s', async (_name, fresh) => {
    const db = await fresh('example')
    try {
      const out = run(db.url)
      expect(out).toContain('Decrypted API Key: my-secret-api-key')
      expect(out).toContain('Usage: { dailyUse: 5, monthlyUse: 5, totalUse: 5 }')
    } finally {
      await db.drop()
    }
  })

  test('PolicySynth-style jest suites pass there, on PostgreSQL and SQLite, two files --runInBand each in its own database', async () => {
    const [a, b, lite] = [await freshPostgres('consumer_a'), await freshPostgres('consumer_b'), await freshSqlite('consumer')]
    try {
      const tests = path.join(project, '__tests__')
      fs.mkdirSync(tests, { recursive: true })
      // The test files in __tests__/, their shared body beside them in the project.
      for (const f of fs.readdirSync(path.join(__dirname, 'fixtures/consumer'))) {
        const to = f.endsWith('.test.cjs') ? path.join(tests, f) : path.join(project, f)
        fs.copyFileSync(path.join(__dirname, 'fixtures/consumer', f), to)
      }
      // The real environment names no database and no keys: only the test files do.
      const env = { ...process.env, CONSUMER_PG_DATABASE_A: a.name, CONSUMER_PG_DATABASE_B: b.name, CONSUMER_SQLITE_FILE: lite.file }
      for (const v of ['DATABASE_URL', 'PSQL_DB_NAME', 'PSQL_DB_USER', 'DB_HOST', 'DB_PORT', 'PSPAS_SQLITE_PATH', 'RSA_API_ENCRYPTION_PUBLIC_KEY', 'RSA_API_ENCRYPTION_PRIVATE_KEY', 'NODE_ENV']) delete env[v]
      // jest 30 (this repository's copy, the consumer's default configuration), in one process.
      const jest = path.join(ROOT, 'node_modules/.bin/jest')
      const result = spawnSync(jest, ['--runInBand', '--ci', '--config', '{}', '--rootDir', project], { cwd: project, env, encoding: 'utf8', timeout: 120000 })
      const report = `${result.stdout}\n${result.stderr}`
      if (result.status !== 0) throw new Error(`consumer jest failed:\n${report}`)
      // Three files (two PostgreSQL databases, one SQLite file), six tests each, all run.
      expect(report).toMatch(/Test Suites:\s+3 passed, 3 total/)
      expect(report).toMatch(/Tests:\s+18 passed, 18 total/)
      // Each file's rows are in its own database and nowhere else.
      const groups = async (db) => (await db.query('SELECT DISTINCT group_id FROM ps_private_access_store ORDER BY 1')).rows.map((r) => r.group_id)
      expect(await groups(a)).toEqual([101])
      expect(await groups(b)).toEqual([202])
      expect(fs.existsSync(lite.file)).toBe(true)
      expect(fs.existsSync(path.join(project, 'ps_private_access_store.sqlite'))).toBe(false)
    } finally {
      await Promise.all([a.drop(), b.drop(), lite.drop()])
    }
  })
})
