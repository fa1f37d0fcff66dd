// The operator CLI, `ps-access-store` (bin/ps-access-store.mjs): the real binary, run as a
// child process (`node bin/ps-access-store.mjs …`) against a fresh PostgreSQL database and a
// fresh SQLite file. Exit codes (0 / 1 failure / 2 usage), `--json` shapes, the `list` table,
// `--help` of every command, errors with PSPAS_* codes, the API key read from stdin (never
// from argv: checked in /proc/<pid>/cmdline and `ps` while the CLI waits on stdin) and from a
// no-echo prompt under a pseudo-terminal (util-linux `script`), the progress bar under a
// pseudo-terminal and plain progress lines otherwise. Every output of the file is searched for
// the canary API keys and the private keys in the end.
// (Over 400 lines: one describe per command of one binary, sharing its fixtures and databases.)
'use strict'
const { spawn, spawnSync, execFileSync } = require('node:child_process')
const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { PsPrivateAccessStore: S } = require('..')
const { freshPostgres, freshSqlite } = require('./support/db.cjs')
const original = require('./support/original-crypto.cjs')

const ROOT = path.resolve(__dirname, '..')
const BIN = path.join(ROOT, 'bin/ps-access-store.mjs')
const PKG = require('../package.json')

const COMMANDS = ['keygen', 'add', 'list', 'status', 'budget', 'enable', 'disable', 'events', 'verify', 'rotate', 'migrate']
const DB_COMMANDS = COMMANDS.filter((c) => c !== 'keygen')

// The pseudo-terminal runs need util-linux `script` (Debian: bsdutils, always installed) and
// the argv checks Linux's /proc; neither is optional here, so a missing one fails the suite.
test('the pseudo-terminal and /proc are there', () => {
  expect(spawnSync('script', ['--version'], { encoding: 'utf8' }).status).toBe(0)
  expect(fs.existsSync(`/proc/${process.pid}/cmdline`)).toBe(true)
})

// ---------------------------------------------------------------------------------------------
// Keys, canaries, a clean environment

const hex = (n) => crypto.randomBytes(n).toString('hex')
const canary = () => `sk-canary-${hex(12)}`
const CANARIES = [] // every API key given to the CLI
const KEYS = {
  current: original.generateKeys(), // the configured pair
  previous: original.generateKeys(), // the pair rows were sealed with before a rotation
  foreign: original.generateKeys(), // a pair nobody configured: its rows cannot be opened
}

let tmp
const keyFile = {}

/** The body lines of a private key PEM that carry key material (not the structural first line). */
function privateLines(pem) {
  const lines = pem.split('\n').filter((l) => l && !l.startsWith('-----'))
  return lines.slice(1, -1).filter((l) => l.length >= 40)
}

// Without these the CLI sees only what a test gives it (no database, no keys in the env).
const STRIPPED = /^(DATABASE_URL|NODE_ENV|DISABLE_PG_SSL|PSQL_DB_|YP_DEV_|DB_|PGUSER|PSPAS_|RSA_API_ENCRYPTION_)/
function cleanEnv(extra = {}) {
  const env = {}
  for (const [k, v] of Object.entries(process.env)) if (!STRIPPED.test(k)) env[k] = v
  return { ...env, ...extra }
}

/** Everything the CLI printed in this file, by command line (for the final secret checks). */
const transcript = [] // { args, stdout, stderr, allowPrivateKey }

function record(args, stdout, stderr, allowPrivateKey = false) {
  transcript.push({ args: args.join(' '), stdout: String(stdout), stderr: String(stderr), allowPrivateKey })
}

/** Run the CLI to completion: { status, stdout, stderr }. */
function cli(args, { env = {}, input = '', cwd } = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: cwd ?? tmp,
    env: cleanEnv(env),
    input,
    encoding: 'utf8',
    timeout: 120000,
  })
  if (r.error) throw r.error
  record(args, r.stdout, r.stderr, args[0] === 'keygen' && args.includes('--env'))
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

const json = (r) => JSON.parse(r.stdout)
const errorOf = (r) => JSON.parse(r.stderr).error

/** The one-line error of a failed run: { code, message }. */
function plainError(r) {
  const m = /^error (PSPAS_[A-Z_]+): (.*)$/m.exec(r.stderr)
  expect(m).not.toBeNull()
  return { code: m[1], message: m[2] }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** A single-quoted shell word. */
const sh = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`

/**
 * Run a command line under a pseudo-terminal (util-linux `script`): stdin, stdout and stderr
 * of the CLI are the pty. `onOutput(text, write)` sees the output so far and may type.
 */
function underPty(args, { env = {}, onOutput = () => {}, timeoutMs = 60000 } = {}) {
  const command = [process.execPath, BIN, ...args].map(sh).join(' ')
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', command, '/dev/null'], {
      cwd: tmp,
      env: cleanEnv({ ...env, TERM: 'xterm', COLUMNS: '120', LINES: '40' }),
    })
    let out = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`timed out under the pty; output: ${JSON.stringify(out)}`))
    }, timeoutMs)
    const write = (s) => child.stdin.write(s)
    child.stdout.on('data', (d) => {
      out += d
      onOutput(out, write)
    })
    child.stderr.on('data', (d) => {
      out += d
    })
    child.on('error', reject)
    child.on('close', (status) => {
      clearTimeout(timer)
      record(['(pty)', ...args], out, '')
      resolve({ status, output: out })
    })
  })
}

// ---------------------------------------------------------------------------------------------
// Databases

const dbs = {} // postgres, sqlite
const BACKENDS = [['postgres'], ['sqlite']]

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pspas-cli-'))
  for (const [name, pair] of Object.entries(KEYS)) {
    keyFile[name] = {
      public: path.join(tmp, `${name}-public.pem`),
      private: path.join(tmp, `${name}-private.pem`),
    }
    fs.writeFileSync(keyFile[name].public, pair.publicKey)
    fs.writeFileSync(keyFile[name].private, pair.privateKey, { mode: 0o600 })
  }
  dbs.postgres = await freshPostgres('cli')
  dbs.sqlite = await freshSqlite('cli')
})

afterAll(async () => {
  await S.close()
  for (const db of Object.values(dbs)) await db.drop()
  fs.rmSync(tmp, { recursive: true, force: true })
})

/** The environment naming a backend and the current key pair, as a deploy would set it. */
function envFor(backend, extra = {}) {
  return {
    DATABASE_URL: dbs[backend].url,
    RSA_API_ENCRYPTION_PUBLIC_KEY: KEYS.current.publicKey,
    RSA_API_ENCRYPTION_PRIVATE_KEY: KEYS.current.privateKey,
    ...extra,
  }
}

/** The groups the tests add keys to. */
const GROUPS = [101, 102, 103, 104, 105, 106, 107]

/** The test process's own view of a key (through the library): its row, opened. */
async function openRow(backend, id, privateKey = KEYS.current.privateKey) {
  S.configure({ databaseUrl: dbs[backend].url })
  for (const g of GROUPS) {
    const row = (await S.getApiKeys(g)).find((r) => r.id === id)
    if (row) return { row, apiKey: original.decryptApiKey(row.encrypted_api_key, row.encrypted_aes_key, privateKey) }
  }
  return null
}

/** Add a key through the CLI from stdin; returns the new id. */
function addKey(backend, group, extraArgs = [], secret = canary()) {
  CANARIES.push(secret)
  const r = cli(['add', '--group', String(group), '--user', '7', ...extraArgs, '--json'], {
    env: envFor(backend),
    input: secret + '\n',
  })
  expect(r.stderr).toBe('')
  expect(r.status).toBe(0)
  return { id: json(r).id, secret }
}

// ---------------------------------------------------------------------------------------------

describe('--help', () => {
  test('the program: every command, the exit codes; --version', () => {
    const r = cli(['--help'])
    expect(r.status).toBe(0)
    expect(r.stdout).toContain('Usage: ps-access-store')
    for (const c of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^  ${c} `, 'm'))
    expect(r.stdout).toContain('Exit codes: 0 success, 1 failure, 2 usage error')
    const v = cli(['--version'])
    expect(v.status).toBe(0)
    expect(v.stdout.trim()).toBe(PKG.version)
  })

  test.each(COMMANDS)("%s --help and `help <command>`: usage, --json, the configuration flags", (command) => {
    for (const args of [[command, '--help'], ['help', command]]) {
      const r = cli(args)
      expect(r.status).toBe(0)
      expect(r.stderr).toBe('')
      expect(r.stdout).toContain(`Usage: ps-access-store ${command}`)
      expect(r.stdout).toContain('--json')
      if (DB_COMMANDS.includes(command)) {
        expect(r.stdout).toContain('--database-url <url>')
        expect(r.stdout).toContain('--sqlite-path <file>')
      }
    }
  })

  test('no secret is ever a flag value: keys come as files, the API key never from argv', () => {
    const all = COMMANDS.map((c) => cli([c, '--help']).stdout).join('\n')
    const flags = [...all.matchAll(/(--[a-z-]+) <([a-z]+)>/g)].map((m) => [m[1], m[2]])
    for (const [flag, value] of flags) {
      if (/key/.test(flag)) expect([flag, value]).toEqual([flag, 'file'])
    }
    expect(flags.map((f) => f[0])).not.toContain('--api-key')
    expect(flags.map((f) => f[0])).not.toContain('--secret')
  })
})

describe('usage errors (exit 2, PSPAS_USAGE)', () => {
  test.each([
    [[]],
    [['bogus']],
    [['list']],
    [['list', '--group', 'abc']],
    [['list', '--group', '1', '--frobnicate']],
    [['status']],
    [['status', '-3']],
    [['enable', 'x']],
    [['add', '--user', '1']],
    [['add', '--group', '1', '--user', '1', '--model', '2', '--api', '3']],
    [['add', '--group', '1', '--user', '1', '--per-day', '-1']],
    [['keygen']],
    [['keygen', '--env', '--out', 'x']],
    [['keygen', '--bits', '1024', '--env']],
    [['verify', '--batch-size', '0']],
  ])('%j', (args) => {
    const r = cli(args)
    expect(r.status).toBe(2)
    expect(r.stdout).toBe('')
    expect(plainError(r).code).toBe('PSPAS_USAGE')
  })

  test('with --json the usage error is one JSON document on stderr', () => {
    const r = cli(['list', '--group', 'abc', '--json'])
    expect(r.status).toBe(2)
    expect(r.stdout).toBe('')
    expect(errorOf(r)).toEqual({ code: 'PSPAS_USAGE', message: expect.stringContaining('--group') })
  })

  test('an API key given on the command line is refused, and not repeated back', () => {
    const secret = canary()
    CANARIES.push(secret)
    for (const args of [
      ['add', '--group', '1', '--user', '1', secret],
      ['add', '--group', '1', '--user', '1', `--api-key=${secret}`],
      ['add', '--group', '1', '--user', '1', '--api-key', secret],
      ['add', '--group', secret, '--user', '1'],
      ['add', '--group', '1', '--user', '1', `--per-day=${secret}`],
      [secret],
    ]) {
      const r = cli(args, { env: envFor('sqlite'), input: '' })
      expect(r.status).toBe(2)
      expect(r.stdout + r.stderr).not.toContain(secret)
    }
  })
})

describe('errors (exit 1, the library\'s PSPAS_* codes, on stderr)', () => {
  test('a database URL the library refuses: PSPAS_CONFIG', () => {
    const r = cli(['list', '--group', '1', '--database-url', 'mysql://localhost/x'])
    expect(r.status).toBe(1)
    expect(r.stdout).toBe('')
    expect(plainError(r)).toEqual({ code: 'PSPAS_CONFIG', message: expect.stringContaining('databaseUrl') })
  })

  test('an unreachable database: PSPAS_DB_UNAVAILABLE, no password, --json shape', () => {
    const password = `pw-canary-${hex(6)}`
    const r = cli(['list', '--group', '1', '--json', '--database-url', `postgres://root:${password}@127.0.0.1:1/nowhere`])
    expect(r.status).toBe(1)
    expect(r.stdout).toBe('')
    expect(errorOf(r)).toEqual({ code: 'PSPAS_DB_UNAVAILABLE', message: expect.stringContaining('127.0.0.1:1') })
    expect(r.stderr).not.toContain(password)
  })

  test('an unreadable key file: PSPAS_CONFIG naming the flag and the file', () => {
    const r = cli(['verify', '--private-key-file', path.join(tmp, 'missing.pem')], { env: envFor('sqlite') })
    expect(r.status).toBe(1)
    const e = plainError(r)
    expect(e.code).toBe('PSPAS_CONFIG')
    expect(e.message).toContain('--private-key-file')
    expect(e.message).toContain('missing.pem')
  })

  test('a key file that is not a key: PSPAS_INVALID_RSA_KEY, its content not echoed', () => {
    const bogus = path.join(tmp, 'bogus.pem')
    const content = `-----BEGIN PUBLIC KEY-----\n${hex(40)}\n-----END PUBLIC KEY-----\n`
    fs.writeFileSync(bogus, content)
    const r = cli(['add', '--group', '1', '--user', '1', '--public-key-file', bogus], { env: envFor('sqlite'), input: 'sk-x\n' })
    expect(r.status).toBe(1)
    expect(plainError(r).code).toBe('PSPAS_INVALID_RSA_KEY')
    expect(r.stderr).not.toContain(content.split('\n')[1])
  })

  test('flags override the environment (a broken DATABASE_URL, a foreign public key)', async () => {
    const secret = canary()
    CANARIES.push(secret)
    const env = {
      DATABASE_URL: 'postgres://root@127.0.0.1:1/nowhere',
      RSA_API_ENCRYPTION_PUBLIC_KEY: KEYS.foreign.publicKey,
    }
    const args = ['add', '--group', '107', '--user', '1', '--json', '--database-url', dbs.sqlite.url, '--public-key-file', keyFile.current.public]
    const r = cli(args, { env, input: secret })
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    const opened = await openRow('sqlite', json(r).id)
    expect(opened.apiKey).toBe(secret)
  })
})

describe('keygen', () => {
  test('--out DIR: private.pem mode 0600, public.pem, a matching pair; --json shape', () => {
    const dir = path.join(tmp, 'keys-out')
    const r = cli(['keygen', '--out', dir, '--json'])
    expect(r.status).toBe(0)
    expect(r.stderr).toBe('')
    const out = json(r)
    expect(out).toEqual({
      bits: 2048,
      fingerprint: expect.stringMatching(/^SHA256:[A-Za-z0-9+/]{43}$/),
      privateKeyFile: path.join(dir, 'private.pem'),
      publicKeyFile: path.join(dir, 'public.pem'),
    })
    expect(fs.statSync(out.privateKeyFile).mode & 0o777).toBe(0o600)
    expect(fs.statSync(out.publicKeyFile).mode & 0o077).toBe(0o044)
    const privateKey = fs.readFileSync(out.privateKeyFile, 'utf8')
    const publicKey = fs.readFileSync(out.publicKeyFile, 'utf8')
    expect(privateKey).toMatch(/^-----BEGIN PRIVATE KEY-----\n/)
    expect(publicKey).toMatch(/^-----BEGIN PUBLIC KEY-----\n/)
    const sealed = original.encryptApiKey('probe', publicKey)
    expect(original.decryptApiKey(sealed.encryptedApiKey, sealed.encryptedAesKey, privateKey)).toBe('probe')
    const der = crypto.createPublicKey(publicKey).export({ type: 'spki', format: 'der' })
    expect(out.fingerprint).toBe('SHA256:' + crypto.createHash('sha256').update(der).digest('base64').replace(/=+$/, ''))
    // The private key is in the file, not in the output.
    for (const line of privateLines(privateKey)) expect(r.stdout + r.stderr).not.toContain(line)
  })

  test('existing files are kept (exit 1) unless --force; human output names the files', () => {
    const dir = path.join(tmp, 'keys-out')
    const before = fs.readFileSync(path.join(dir, 'private.pem'), 'utf8')
    const r = cli(['keygen', '--out', dir])
    expect(r.status).toBe(1)
    expect(plainError(r)).toEqual({ code: 'PSPAS_CONFIG', message: expect.stringContaining('--force') })
    expect(fs.readFileSync(path.join(dir, 'private.pem'), 'utf8')).toBe(before)
    fs.chmodSync(path.join(dir, 'private.pem'), 0o644)
    const f = cli(['keygen', '--out', dir, '--force', '--bits', '3072'])
    expect(f.status).toBe(0)
    expect(f.stdout).toContain(path.join(dir, 'private.pem'))
    expect(f.stdout).toContain('mode 0600')
    const after = fs.readFileSync(path.join(dir, 'private.pem'), 'utf8')
    expect(after).not.toBe(before)
    expect(fs.statSync(path.join(dir, 'private.pem')).mode & 0o777).toBe(0o600)
    expect(crypto.createPrivateKey(after).asymmetricKeyDetails.modulusLength).toBe(3072)
  })

  test('--env: two .env lines with escaped newlines that the library accepts as they are', async () => {
    const r = cli(['keygen', '--env'])
    expect(r.status).toBe(0)
    const lines = r.stdout.split('\n').filter((l) => l && !l.startsWith('#'))
    expect(lines).toHaveLength(2)
    const vars = {}
    for (const line of lines) {
      const m = /^(RSA_API_ENCRYPTION_(?:PUBLIC|PRIVATE)_KEY)="([^"\n]+)"$/.exec(line)
      expect(m).not.toBeNull()
      vars[m[1]] = m[2]
    }
    expect(vars.RSA_API_ENCRYPTION_PUBLIC_KEY).toMatch(/^-----BEGIN PUBLIC KEY-----\\n.*\\n-----END PUBLIC KEY-----\\n$/)
    expect(vars.RSA_API_ENCRYPTION_PRIVATE_KEY).toMatch(/^-----BEGIN PRIVATE KEY-----\\n.*\\n-----END PRIVATE KEY-----\\n$/)
    // Used literally (a .env loader that does not expand \n): add through the CLI, open it
    // with the private key.
    const secret = canary()
    CANARIES.push(secret)
    const add = cli(['add', '--group', '106', '--user', '1', '--json'], {
      env: { DATABASE_URL: dbs.sqlite.url, RSA_API_ENCRYPTION_PUBLIC_KEY: vars.RSA_API_ENCRYPTION_PUBLIC_KEY },
      input: secret,
    })
    expect(add.status).toBe(0)
    const privatePem = vars.RSA_API_ENCRYPTION_PRIVATE_KEY.replace(/\\n/g, '\n')
    expect((await openRow('sqlite', json(add).id, privatePem)).apiKey).toBe(secret)
  })

  test('--env --json: the pair as PEM text', () => {
    const r = cli(['keygen', '--env', '--json'])
    expect(r.status).toBe(0)
    const out = json(r)
    expect(Object.keys(out).sort()).toEqual(['bits', 'env', 'fingerprint'])
    expect(crypto.createPrivateKey(out.env.RSA_API_ENCRYPTION_PRIVATE_KEY).asymmetricKeyType).toBe('rsa')
    expect(crypto.createPublicKey(out.env.RSA_API_ENCRYPTION_PUBLIC_KEY).asymmetricKeyType).toBe('rsa')
  })
})

describe('migrate', () => {
  test('postgres: creates the missing table, idempotently; --json shape', async () => {
    const db = await freshPostgres('climig')
    try {
      const exists = async () => (await db.query("SELECT to_regclass('public.ps_private_access_store') AS t")).rows[0].t !== null
      expect(await exists()).toBe(false)
      const r = cli(['migrate', '--json', '--database-url', db.url])
      expect(r.stderr).toBe('')
      expect(r.status).toBe(0)
      expect(json(r)).toEqual({ table: 'ps_private_access_store', ready: true })
      expect(await exists()).toBe(true)
      const again = cli(['migrate'], { env: { DATABASE_URL: db.url } })
      expect(again.status).toBe(0)
      expect(again.stdout).toBe('table ps_private_access_store is ready\n')
    } finally {
      await db.drop()
    }
  })

  test('a multi-host URL whose first host is down: the table is made on the next, writable one', async () => {
    const db = await freshPostgres('climulti', { bouncerPort: null })
    try {
      const own = new URL(db.directUrl)
      const url = `postgres://${own.username}@127.0.0.1:1,${own.hostname}:${own.port || 5432}${own.pathname}?target_session_attrs=read-write`
      const r = cli(['migrate', '--json', '--database-url', url])
      expect(r.stderr).toBe('')
      expect(r.status).toBe(0)
      expect(json(r)).toEqual({ table: 'ps_private_access_store', ready: true })
      expect((await db.query("SELECT to_regclass('public.ps_private_access_store') AS t")).rows[0].t).not.toBeNull()
    } finally {
      await db.drop()
    }
  })

  test('a multi-host URL with a bad port: PSPAS_CONFIG naming the host, never the password', () => {
    const password = `pw-canary-${hex(6)}`
    const r = cli(['migrate', '--json', '--database-url', `postgres://root:${password}@db1:5432,db2:99999/x`])
    expect(r.status).toBe(1)
    expect(r.stdout).toBe('')
    expect(errorOf(r)).toEqual({ code: 'PSPAS_CONFIG', message: 'databaseUrl: host 2 of 2 ("db2:99999"): the port is not a number from 1 to 65535' })
    expect(r.stderr).not.toContain(password)
  })

  test('sqlite: creates the file and the table', async () => {
    const db = await freshSqlite('climig')
    try {
      expect(fs.existsSync(db.file)).toBe(false)
      const r = cli(['migrate', '--json'], { env: { DATABASE_URL: db.url } })
      expect(r.status).toBe(0)
      expect(json(r).ready).toBe(true)
      expect(fs.existsSync(db.file)).toBe(true)
      expect(fs.readFileSync(db.file).includes(Buffer.from('ps_private_access_store'))).toBe(true)
    } finally {
      await db.drop()
    }
  })

  test('an unreachable database: exit 1, PSPAS_DB_UNAVAILABLE', () => {
    const r = cli(['migrate', '--database-url', 'postgres://root@127.0.0.1:1/nowhere'])
    expect(r.status).toBe(1)
    expect(plainError(r).code).toBe('PSPAS_DB_UNAVAILABLE')
  })
})

describe('add', () => {
  test.each(BACKENDS)('%s: the API key from stdin; prints the new id; the row opens to it', async (backend) => {
    const secret = canary()
    CANARIES.push(secret)
    const r = cli(['add', '--group', '101', '--user', '7', '--model', '3', '--per-day', '10', '--per-month', '100', '--total', '1000'], {
      env: envFor(backend),
      input: secret + '\n',
    })
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    expect(r.stdout).toMatch(/^\d+\n$/)
    const opened = await openRow(backend, Number(r.stdout))
    expect(opened.apiKey).toBe(secret) // the trailing newline of stdin is not part of it
    expect(opened.row.configuration.maxBudget).toEqual({ perDay: 10, petMonth: 100, total: 1000 })
    expect(opened.row.ai_model_id).toBe(3)
    expect(opened.row.user_id).toBe(7)
  })

  test.each(BACKENDS)('%s: --json shape; --api; thresholds', async (backend) => {
    const secret = canary()
    CANARIES.push(secret)
    const r = cli(['add', '--group', '101', '--user', '8', '--api', '9', '--daily-threshold', '0.8', '--json'], {
      env: envFor(backend),
      input: secret,
    })
    expect(r.status).toBe(0)
    expect(json(r)).toEqual({
      id: expect.any(Number),
      groupId: 101,
      userId: 8,
      aiModelId: null,
      externalApiId: 9,
      active: true,
      limits: { daily: null, monthly: null, total: null },
    })
    const opened = await openRow(backend, json(r).id)
    expect(opened.apiKey).toBe(secret)
    expect(opened.row.configuration.emailNotificationBudgetThresholds).toEqual({ daily: 0.8 })
  })

  const itProc = test.each(BACKENDS)
  itProc('%s: while the CLI waits on stdin, its argv (/proc, ps) and environment hold no secret', async (backend) => {
    const secret = canary()
    CANARIES.push(secret)
    const args = [BIN, 'add', '--group', '102', '--user', '7', '--json']
    const child = spawn(process.execPath, args, { cwd: tmp, env: cleanEnv(envFor(backend)), stdio: 'pipe' })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const closed = new Promise((resolve) => child.on('close', resolve))
    await sleep(700) // loaded and blocked on stdin
    const cmdline = fs.readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0').join(' ')
    const environ = fs.readFileSync(`/proc/${child.pid}/environ`, 'utf8')
    const ps = execFileSync('ps', ['-ww', '-o', 'args=', '-p', String(child.pid)], { encoding: 'utf8' })
    expect(cmdline).toContain('ps-access-store.mjs add --group 102')
    expect(ps).toContain('ps-access-store.mjs add --group 102')
    expect(cmdline).not.toContain(secret)
    expect(ps).not.toContain(secret)
    expect(environ).not.toContain(secret)
    child.stdin.end(secret + '\n')
    const status = await closed
    record(['add', '(async)'], stdout, stderr)
    expect(stderr).toBe('')
    expect(status).toBe(0)
    expect((await openRow(backend, JSON.parse(stdout).id)).apiKey).toBe(secret)
  })

  test('an empty stdin: PSPAS_EMPTY_API_KEY, nothing stored', async () => {
    const r = cli(['add', '--group', '103', '--user', '7'], { env: envFor('sqlite'), input: '' })
    expect(r.status).toBe(1)
    expect(plainError(r).code).toBe('PSPAS_EMPTY_API_KEY')
    S.configure({ databaseUrl: dbs.sqlite.url })
    expect(await S.getApiKeys(103)).toEqual([])
  })

  test('more than one line on stdin: refused, not echoed', () => {
    const secret = canary()
    CANARIES.push(secret)
    const r = cli(['add', '--group', '103', '--user', '7'], { env: envFor('sqlite'), input: `${secret}\n${secret}\n` })
    expect(r.status).toBe(1)
    expect(plainError(r).code).toBe('PSPAS_INVALID_ARGUMENT')
  })

  test('no public key: PSPAS_MISSING_PUBLIC_KEY before reading the secret', () => {
    const r = cli(['add', '--group', '103', '--user', '7', '--json'], { env: { DATABASE_URL: dbs.sqlite.url }, input: 'sk-unused' })
    expect(r.status).toBe(1)
    expect(errorOf(r).code).toBe('PSPAS_MISSING_PUBLIC_KEY')
  })

  const itPty = test
  itPty('on a terminal: a no-echo prompt; the typed key never appears on the terminal', async () => {
    const secret = canary()
    CANARIES.push(secret)
    let typed = false
    const r = await underPty(['add', '--group', '104', '--user', '7'], {
      env: envFor('sqlite'),
      onOutput: (out, write) => {
        if (!typed && out.includes('API key (input hidden):')) {
          typed = true
          setTimeout(() => write(secret + '\r'), 200)
        }
      },
    })
    expect(typed).toBe(true)
    expect(r.status).toBe(0)
    expect(r.output).not.toContain(secret)
    expect(r.output).not.toContain(secret.slice(0, 12))
    const id = Number(/(\d+)\s*$/.exec(r.output)[1])
    expect((await openRow('sqlite', id)).apiKey).toBe(secret)
  })
})

describe('list', () => {
  const ids = {}
  beforeAll(async () => {
    for (const [backend] of BACKENDS) {
      ids[backend] = {
        a: addKey(backend, 105, ['--model', '3', '--per-day', '10', '--total', '100']).id,
        b: addKey(backend, 105, ['--api', '9']).id,
        c: addKey(backend, 105, []).id,
      }
      S.configure({ databaseUrl: dbs[backend].url, privateKey: KEYS.current.privateKey })
      await S.incrementUsageAndGetApiKey(105, { aiModelId: 3, incrementAmount: 3.5 })
      await S.setKeyStatus(ids[backend].c, false)
    }
  })

  test.each(BACKENDS)('%s: the table: id, model/api, active, used vs limit, last used', (backend) => {
    const { a, b, c } = ids[backend]
    const r = cli(['list', '--group', '105'], { env: { DATABASE_URL: dbs[backend].url } })
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines[0].split(/\s{2,}/)).toEqual(['ID', 'MODEL/API', 'ACTIVE', 'DAILY', 'MONTHLY', 'TOTAL', 'LAST USED'])
    const rows = lines.slice(1).map((l) => l.split(/\s{2,}/))
    expect(rows).toEqual([
      [String(a), 'model 3', 'yes', '3.5/10', '3.5/-', '3.5/100', expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/)],
      [String(b), 'api 9', 'yes', '0/-', '0/-', '0/-', 'never'],
      [String(c), '-', 'no', '0/-', '0/-', '0/-', 'never'],
    ])
    // Columns line up: every cell starts where its header starts.
    const starts = (l) => [...l.matchAll(/(?:^|\s{2})(\S)/g)].map((m) => m.index + m[0].length - 1)
    for (const l of lines.slice(1)) expect(starts(l)).toEqual(starts(lines[0]))
  })

  test.each(BACKENDS)('%s: --json: the documented fields only, never the encrypted columns', (backend) => {
    const { a } = ids[backend]
    const r = cli(['list', '--group', '105', '--json'], { env: { DATABASE_URL: dbs[backend].url } })
    expect(r.status).toBe(0)
    const out = json(r)
    expect(out.groupId).toBe(105)
    expect(out.keys).toHaveLength(3)
    expect(out.keys[0]).toEqual({
      id: a,
      groupId: 105,
      userId: 7,
      aiModelId: 3,
      externalApiId: null,
      active: true,
      used: { daily: 3.5, monthly: 3.5, total: 3.5 },
      limits: { daily: 10, monthly: null, total: 100 },
      lastUsedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    })
    expect(r.stdout).not.toMatch(/encrypted|[0-9a-f]{24}:[0-9a-f]{32}:/)
  })

  test.each(BACKENDS)('%s: --model / --api filters; an empty group', (backend) => {
    const env = { DATABASE_URL: dbs[backend].url }
    expect(json(cli(['list', '--group', '105', '--api', '9', '--json'], { env })).keys.map((k) => k.id)).toEqual([ids[backend].b])
    const empty = cli(['list', '--group', '999'], { env })
    expect(empty.status).toBe(0)
    expect(empty.stdout).toBe('no keys in group 999\n')
    expect(json(cli(['list', '--group', '999', '--json'], { env }))).toEqual({ groupId: 999, keys: [] })
  })
})

describe('status', () => {
  let id
  beforeAll(async () => {
    id = addKey('postgres', 105, ['--model', '4', '--per-day', '5']).id
    S.configure({ databaseUrl: dbs.postgres.url, privateKey: KEYS.current.privateKey })
    await S.incrementUsageAndGetApiKey(105, { aiModelId: 4, incrementAmount: 2 })
    await S.reserveUsageAndGetApiKey(105, { aiModelId: 4, estimate: 1 })
  })

  test('human: active, enforced, a row per period (a live reservation shown as RESERVED)', () => {
    const r = cli(['status', String(id)], { env: { DATABASE_URL: dbs.postgres.url } })
    expect(r.status).toBe(0)
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines[0]).toBe(`key ${id}: active, budgets enforced`)
    expect(lines[1].split(/\s{2,}/)).toEqual(['PERIOD', 'USED', 'RESERVED', 'LIMIT', 'REMAINING', 'PERIOD START'])
    expect(lines[2].split(/\s{2,}/)).toEqual(['daily', '2', '1', '5', '2', expect.stringMatching(/ 00:00:00Z$/)])
    expect(lines[3].split(/\s{2,}/)).toEqual(['monthly', '2', '1', '-', '-', expect.stringMatching(/-01 00:00:00Z$/)])
    expect(lines[4].split(/\s{2,}/)).toEqual(['total', '2', '1', '-', '-', '-'])
  })

  test.each(BACKENDS)('%s: --json is getBudgetStatus as JSON', async (backend) => {
    const key = backend === 'postgres' ? id : addKey(backend, 105, ['--per-month', '50']).id
    const r = cli(['status', String(key), '--json'], { env: { DATABASE_URL: dbs[backend].url } })
    expect(r.status).toBe(0)
    S.configure({ databaseUrl: dbs[backend].url })
    expect(json(r)).toEqual(JSON.parse(JSON.stringify(await S.getBudgetStatus(key))))
    expect(json(r)).toEqual({
      id: key,
      isActive: true,
      enforced: true,
      daily: expect.objectContaining({ used: expect.any(Number) }),
      monthly: expect.objectContaining({ limit: backend === 'postgres' ? null : 50 }),
      total: { used: expect.any(Number), reserved: expect.any(Number), limit: null, remaining: null, periodStart: null },
      unreadable: [],
    })
  })

  test('an unknown id: exit 1, PSPAS_NOT_FOUND', () => {
    const r = cli(['status', '987654', '--json'], { env: { DATABASE_URL: dbs.postgres.url } })
    expect(r.status).toBe(1)
    expect(r.stdout).toBe('')
    expect(errorOf(r)).toEqual({ code: 'PSPAS_NOT_FOUND', message: 'no key with id 987654' })
  })
})

describe('budget', () => {
  test.each(BACKENDS)('%s: replaces the whole configuration; --json; the next call obeys it', async (backend) => {
    const { id } = addKey(backend, 107, ['--model', '9', '--per-day', '100', '--total', '1000'])
    const env = { DATABASE_URL: dbs[backend].url }
    const r = cli(['budget', String(id), '--per-day', '3', '--daily-threshold', '0.5'], { env })
    expect(r.status).toBe(0)
    expect(r.stdout).toBe(`key ${id}: budget set\n`)
    S.configure({ databaseUrl: dbs[backend].url, privateKey: KEYS.current.privateKey })
    const [row] = await S.getApiKeys(107, { aiModelId: 9 })
    // The flags give the whole configuration: --total was not given, so there is none.
    expect(row.configuration).toEqual({ maxBudget: { perDay: 3, petMonth: null, total: null }, emailNotificationBudgetThresholds: { daily: 0.5 } })
    expect(await S.incrementUsageAndGetApiKey(107, { aiModelId: 9, incrementAmount: 3 })).toEqual(expect.stringMatching(/^sk-canary-/))
    expect(await S.incrementUsageAndGetApiKey(107, { aiModelId: 9, incrementAmount: 1 })).toBeNull()
    const j = cli(['budget', String(id), '--per-day', '10', '--json'], { env })
    expect(j.status).toBe(0)
    expect(json(j)).toEqual({ id, configuration: { maxBudget: { perDay: 10, petMonth: null, total: null }, emailNotificationBudgetThresholds: {} } })
  })

  test('an unknown id: exit 1, PSPAS_NOT_FOUND; a bad amount: exit 2, nothing written', () => {
    const env = { DATABASE_URL: dbs.sqlite.url }
    const r = cli(['budget', '434343', '--per-day', '5'], { env })
    expect(r.status).toBe(1)
    expect(plainError(r)).toEqual({ code: 'PSPAS_NOT_FOUND', message: 'no key with id 434343' })
    const bad = cli(['budget', '1', '--per-day', '-5'], { env })
    expect(bad.status).toBe(2)
  })
})

describe('events', () => {
  test.each(BACKENDS)('%s: lists the outbox newest first (human and --json), by state; `events retry` un-parks a parked event', async (backend) => {
    const { id } = addKey(backend, 108, ['--model', '9', '--per-day', '10', '--daily-threshold', '0.5'])
    const env = { DATABASE_URL: dbs[backend].url }
    S.configure({ databaseUrl: dbs[backend].url, privateKey: KEYS.current.privateKey })
    // Earlier tests' events acked, so that this one's is the only one pending.
    for (let got; (got = await S.claimBudgetEvents({ consumer: 'drain', limit: 1000 })).length > 0; ) {
      await S.ackBudgetEvents(got.map((e) => e.eventId))
    }
    await S.incrementUsageAndGetApiKey(108, { aiModelId: 9, incrementAmount: 6 })
    // Claimed once with maxAttempts 1 and a lease that runs out: parked at the next claim.
    const [claimed] = await S.claimBudgetEvents({ consumer: 'cli-spec', leaseMs: 1, maxAttempts: 1 })
    expect(claimed.keyId).toBe(id)
    await new Promise((r) => setTimeout(r, 20))
    expect(await S.claimBudgetEvents({ consumer: 'cli-spec', maxAttempts: 1 })).toEqual([])
    const r = cli(['events', '--state', 'parked'], { env })
    expect(r.status).toBe(0)
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines[0].split(/\s{2,}/)).toEqual(['EVENT', 'STATE', 'KIND', 'KEY', 'GROUP', 'USED', 'LIMIT', 'ATTEMPTS', 'CONSUMER', 'CREATED'])
    expect(lines[1].split(/\s{2,}/)).toEqual([claimed.eventId, 'parked', 'dailyThreshold', String(id), '108', '6', '10', '1', 'cli-spec', expect.stringMatching(/Z$/)])
    const j = cli(['events', '--json', '--limit', '1'], { env })
    expect(j.status).toBe(0)
    expect(json(j)).toEqual({
      events: [
        {
          eventId: claimed.eventId, state: 'parked', kind: 'dailyThreshold', keyId: id, groupId: 108, aiModelId: 9, externalApiId: null,
          used: 6, limit: 10, periodStart: claimed.periodStart.toISOString(), attempts: 1, consumer: 'cli-spec', leasedUntil: null,
          createdAt: claimed.createdAt.toISOString(), ackedAt: null,
        },
      ],
    })
    const retried = cli(['events', 'retry', claimed.eventId], { env })
    expect(retried.status).toBe(0)
    expect(retried.stdout).toBe(`event ${claimed.eventId} is pending again\n`)
    expect(cli(['events', '--state', 'parked'], { env }).stdout).toBe('no parked budget events\n')
    const [again] = await S.claimBudgetEvents({ consumer: 'cli-spec' })
    expect([again.eventId, again.attempts]).toEqual([claimed.eventId, 1])
    expect(await S.ackBudgetEvents([again.eventId])).toBe(1)
    // Retrying an event that is not parked: exit 1, PSPAS_NOT_FOUND; a bad state: exit 2.
    const twice = cli(['events', 'retry', claimed.eventId, '--json'], { env })
    expect(twice.status).toBe(1)
    expect(errorOf(twice)).toEqual({ code: 'PSPAS_NOT_FOUND', message: `no parked event with id ${claimed.eventId}` })
    expect(cli(['events', '--state', 'done'], { env }).status).toBe(2)
  })
})

describe('enable / disable', () => {
  test.each(BACKENDS)('%s: disable, enable; --json; the key stops and starts serving', async (backend) => {
    const { id } = addKey(backend, 106, ['--model', '8'])
    const env = { DATABASE_URL: dbs[backend].url }
    const d = cli(['disable', String(id)], { env })
    expect(d.status).toBe(0)
    expect(d.stdout).toBe(`key ${id} disabled\n`)
    S.configure({ databaseUrl: dbs[backend].url, privateKey: KEYS.current.privateKey })
    expect(await S.incrementUsageAndGetApiKey(106, { aiModelId: 8 })).toBeNull()
    const e = cli(['enable', String(id), '--json'], { env })
    expect(e.status).toBe(0)
    expect(json(e)).toEqual({ id, active: true })
    expect(await S.incrementUsageAndGetApiKey(106, { aiModelId: 8 })).toEqual(expect.stringMatching(/^sk-canary-/))
    const d2 = cli(['disable', String(id), '--json'], { env })
    expect(json(d2)).toEqual({ id, active: false })
  })

  test.each(['enable', 'disable'])('%s of an unknown id: exit 1, PSPAS_NOT_FOUND', (command) => {
    const r = cli([command, '424242'], { env: { DATABASE_URL: dbs.sqlite.url } })
    expect(r.status).toBe(1)
    expect(plainError(r)).toEqual({ code: 'PSPAS_NOT_FOUND', message: 'no key with id 424242' })
  })
})

// ---------------------------------------------------------------------------------------------
// verify / rotate: each on fresh databases, so the counts are exact

/**
 * A fresh database with `current` rows sealed with the current pair, `previous` rows sealed
 * with the previous pair and `foreign` rows sealed with a pair nobody configured.
 */
async function sealedStore(fresh, { current = 0, previous = 0, foreign = 0 }) {
  const db = await fresh('clirot')
  S.configure({ databaseUrl: db.url })
  const ids = { current: [], previous: [], foreign: [] }
  for (const [kind, n] of Object.entries({ current, previous, foreign })) {
    for (let i = 0; i < n; i++) {
      const secret = canary()
      CANARIES.push(secret)
      const sealed = original.encryptApiKey(secret, KEYS[kind].publicKey)
      const row = await S.addPreEncryptedKey(200, 1, i, undefined, sealed.encryptedApiKey, sealed.encryptedAesKey, {})
      ids[kind].push(row.id)
    }
  }
  await S.close()
  return { db, ids }
}

function keyArgs(previous = true) {
  const args = ['--private-key-file', keyFile.current.private]
  if (previous) args.push('--previous-private-keys-file', path.join(tmp, 'previous-keys.pem'))
  return args
}
beforeAll(() => {
  // Two previous keys, concatenated (the foreign one is not among them).
  fs.writeFileSync(path.join(tmp, 'previous-keys.pem'), original.generateKeys().privateKey + KEYS.previous.privateKey, { mode: 0o600 })
})

describe('verify', () => {
  test.each(BACKENDS)('%s: counts by outcome; --json shape; exit 0 when every key opens', async (backend) => {
    const { db } = await sealedStore(backend === 'postgres' ? freshPostgres : freshSqlite, { current: 3, previous: 2 })
    try {
      const r = cli(['verify', '--json', ...keyArgs()], { env: { DATABASE_URL: db.url } })
      expect(r.status).toBe(0)
      expect(json(r)).toEqual({ total: 5, ok: 3, previousKey: 2, cannotOpen: [], unbound: 5, duplicates: [] })
      const h = cli(['verify', ...keyArgs()], { env: { DATABASE_URL: db.url } })
      expect(h.status).toBe(0)
      expect(h.stdout).toContain('verified 5 keys: 3 ok, 2 only with a previous private key, 0 cannot open')
      expect(h.stdout).toContain('ps-access-store rotate')
    } finally {
      await db.drop()
    }
  })

  test.each(BACKENDS)('%s: keys that cannot be opened: their ids, exit 1 with PSPAS_DECRYPT_FAILED', async (backend) => {
    const { db, ids } = await sealedStore(backend === 'postgres' ? freshPostgres : freshSqlite, { current: 2, previous: 1, foreign: 2 })
    try {
      const r = cli(['verify', '--json', ...keyArgs()], { env: { DATABASE_URL: db.url } })
      expect(r.status).toBe(1)
      expect(json(r)).toEqual({ total: 5, ok: 2, previousKey: 1, cannotOpen: ids.foreign, unbound: 3, duplicates: [] })
      expect(errorOf(r).code).toBe('PSPAS_DECRYPT_FAILED')
      // Without the previous keys, the previous key's row cannot be opened either.
      const h = cli(['verify', ...keyArgs(false)], { env: { DATABASE_URL: db.url } })
      expect(h.status).toBe(1)
      expect(h.stdout).toContain('verified 5 keys: 2 ok, 0 only with a previous private key, 3 cannot open')
      expect(h.stdout).toContain(`cannot open: ${[...ids.previous, ...ids.foreign].sort((x, y) => x - y).join(', ')}`)
      expect(plainError(h).code).toBe('PSPAS_DECRYPT_FAILED')
    } finally {
      await db.drop()
    }
  })

  test('no TTY: plain progress lines on stderr; --no-progress or --json: none', async () => {
    const { db } = await sealedStore(freshSqlite, { current: 4 })
    try {
      const r = cli(['verify', '--batch-size', '2', ...keyArgs()], { env: { DATABASE_URL: db.url } })
      expect(r.status).toBe(0)
      expect(r.stderr).toMatch(/^verify: 4\/4 rows \(100%\), \d+ rows\/s, ETA \S+$/m)
      expect(r.stderr).not.toContain('\u001b[') // no terminal control sequences
      for (const quiet of [['--no-progress'], ['--json']]) {
        const q = cli(['verify', ...quiet, ...keyArgs()], { env: { DATABASE_URL: db.url } })
        expect(q.status).toBe(0)
        expect(q.stderr).toBe('')
      }
    } finally {
      await db.drop()
    }
  })

  const itPty = test
  itPty('on a terminal: a progress bar (bar, rows, rate, ETA)', async () => {
    const { db } = await sealedStore(freshSqlite, { current: 30 })
    try {
      const r = await underPty(['verify', '--batch-size', '5', ...keyArgs()], { env: { DATABASE_URL: db.url } })
      expect(r.status).toBe(0)
      expect(r.output).toMatch(/verify [\u2588\u2591]+ 100% \| 30\/30 rows \| \d+ rows\/s \| ETA /)
      expect(r.output).toContain('verified 30 keys: 30 ok')
    } finally {
      await db.drop()
    }
  })
})

describe('rotate', () => {
  test.each(BACKENDS)('%s: rewraps the previous key\'s rows; --json shape; verify then finds all ok', async (backend) => {
    const { db, ids } = await sealedStore(backend === 'postgres' ? freshPostgres : freshSqlite, { current: 2, previous: 3 })
    try {
      const env = { DATABASE_URL: db.url }
      const r = cli(['rotate', '--json', '--new-public-key', keyFile.current.public, ...keyArgs()], { env })
      expect(r.stderr.split('\n').filter((l) => l && !l.startsWith('rotate: '))).toEqual([])
      expect(r.status).toBe(0)
      expect(json(r)).toEqual({ total: 5, rotated: 3, alreadyCurrent: 2, cannotOpen: [], changedMeanwhile: 0, seconds: expect.any(Number) })
      // Every row now opens with the current private key alone.
      for (const id of [...ids.current, ...ids.previous]) {
        S.configure({ databaseUrl: db.url })
        const row = (await S.getApiKeys(200)).find((x) => x.id === id)
        expect(original.decryptApiKey(row.encrypted_api_key, row.encrypted_aes_key, KEYS.current.privateKey)).toMatch(/^sk-canary-/)
      }
      await S.close()
      const v = cli(['verify', '--json', ...keyArgs(false)], { env })
      expect(json(v)).toEqual({ total: 5, ok: 5, previousKey: 0, cannotOpen: [], unbound: 5, duplicates: [] })
      // Again: nothing left to rotate.
      const again = cli(['rotate', ...keyArgs()], { env })
      expect(again.status).toBe(0)
      expect(again.stdout).toMatch(/^rotated 0 of 5 keys \(5 already current, 0 cannot open\) in [\d.]+ s\n$/)
    } finally {
      await db.drop()
    }
  })

  test('rows no key opens are left unchanged: their ids, exit 1 with PSPAS_DECRYPT_FAILED', async () => {
    const { db, ids } = await sealedStore(freshPostgres, { previous: 2, foreign: 1 })
    try {
      const before = (await db.query('SELECT encrypted_aes_key FROM ps_private_access_store WHERE id = $1', [ids.foreign[0]])).rows[0]
      const r = cli(['rotate', '--json', ...keyArgs()], { env: { DATABASE_URL: db.url } })
      expect(r.status).toBe(1)
      expect(json(r)).toEqual({ total: 3, rotated: 2, alreadyCurrent: 0, cannotOpen: ids.foreign, changedMeanwhile: 0, seconds: expect.any(Number) })
      expect(errorOf(r).code).toBe('PSPAS_DECRYPT_FAILED')
      const after = (await db.query('SELECT encrypted_aes_key FROM ps_private_access_store WHERE id = $1', [ids.foreign[0]])).rows[0]
      expect(after).toEqual(before)
    } finally {
      await db.drop()
    }
  })

  test('--new-public-key that is not the public half of the private key: PSPAS_CONFIG, nothing changed', async () => {
    const { db } = await sealedStore(freshSqlite, { previous: 1 })
    try {
      const r = cli(['rotate', '--new-public-key', keyFile.foreign.public, ...keyArgs()], { env: { DATABASE_URL: db.url } })
      expect(r.status).toBe(1)
      expect(plainError(r).code).toBe('PSPAS_CONFIG')
      const v = cli(['verify', '--json', ...keyArgs()], { env: { DATABASE_URL: db.url } })
      expect(json(v)).toMatchObject({ total: 1, ok: 0, previousKey: 1 })
    } finally {
      await db.drop()
    }
  })

  const itPty = test
  itPty('on a terminal: a progress bar; without one: plain lines', async () => {
    const { db } = await sealedStore(freshPostgres, { previous: 20 })
    try {
      const env = { DATABASE_URL: db.url }
      const r = await underPty(['rotate', '--batch-size', '4', ...keyArgs()], { env })
      expect(r.status).toBe(0)
      expect(r.output).toMatch(/rotate [\u2588\u2591]+ 100% \| 20\/20 rows \| \d+ rows\/s \| ETA /)
      expect(r.output).toContain('rotated 20 of 20 keys')
      const plain = cli(['rotate', ...keyArgs()], { env })
      expect(plain.stderr).toMatch(/^rotate: 20\/20 rows \(100%\)/m)
    } finally {
      await db.drop()
    }
  })
})

// ---------------------------------------------------------------------------------------------

describe('secrets', () => {
  test('no API key given to the CLI appears in anything it printed', () => {
    expect(CANARIES.length).toBeGreaterThan(10)
    expect(transcript.length).toBeGreaterThan(10)
    const found = []
    for (const t of transcript) {
      for (const c of CANARIES) {
        if (t.stdout.includes(c) || t.stderr.includes(c)) found.push(t.args)
      }
    }
    expect(found).toEqual([])
  })

  test('no private key appears in anything printed (but `keygen --env`, which is asked to)', () => {
    const lines = Object.values(KEYS).flatMap((k) => privateLines(k.privateKey))
    for (const file of ['keys-out/private.pem']) {
      const p = path.join(tmp, file)
      if (fs.existsSync(p)) lines.push(...privateLines(fs.readFileSync(p, 'utf8')))
    }
    expect(lines.length).toBeGreaterThan(40)
    const found = []
    for (const t of transcript.filter((x) => !x.allowPrivateKey)) {
      const flat = (t.stdout + t.stderr).replace(/\\n|\s/g, '\n')
      for (const line of lines) if (flat.includes(line)) found.push(t.args)
    }
    expect(found).toEqual([])
    // ... and ciphertexts: no envelope (hex:hex:hex) or wrapped key (long base64) either.
    for (const t of transcript.filter((x) => !x.allowPrivateKey)) {
      expect(t.stdout + t.stderr).not.toMatch(/[0-9a-f]{24,32}:[0-9a-f]{32}:[0-9a-f]+/i)
      expect(t.stdout + t.stderr).not.toMatch(/[A-Za-z0-9+/]{300,}={0,2}/)
    }
  })
})
