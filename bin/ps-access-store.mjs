#!/usr/bin/env node
// ps-access-store: the operator CLI of @policysynth/private-access-store.
//
// Just another caller of the package's public entry (../dist/index.js): every command maps to
// library calls. Configuration comes from the same environment variables as the library;
// flags override them through PsPrivateAccessStore.configure(). Secrets (API keys, PEMs) are
// never accepted as flag values, only as files (keys) or on stdin / a no-echo prompt (API
// keys), and no command prints an API key, a ciphertext or a private key (the one exception
// is `keygen --env`, which prints a new key pair because it is asked to).
//
// Exit codes: 0 success, 1 failure, 2 usage error. Errors go to stderr as
// `error PSPAS_CODE: message`, or with --json as {"error":{"code","message"}}.
//
// Libraries: commander (arguments, help, usage errors), read (npm's own no-echo prompt),
// cli-progress (progress bar on a TTY).

import { createRequire } from 'node:module'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { Command, InvalidArgumentError, Option } from 'commander'
import cliProgress from 'cli-progress'
import { read } from 'read'

const require = createRequire(import.meta.url)
const pkg = require('../package.json')

const NAME = 'ps-access-store'
const TABLE = 'ps_private_access_store'

// ---------------------------------------------------------------------------------------------
// Errors and output

/** A failure of the CLI itself, with a PSPAS_* code and an exit code. */
class CliError extends Error {
  constructor(code, message, exitCode = 1) {
    super(message)
    this.code = code
    this.exitCode = exitCode
  }
}

const usage = (message) => new CliError('PSPAS_USAGE', message, 2)

/** The library, loaded on first use (so `--help` and `keygen` work without the addon). */
let library = null
function store() {
  if (library === null) library = require('../dist/index.js')
  return library.PsPrivateAccessStore
}

/** The library method `name`, or a clear error when this build of the package lacks it. */
function method(name) {
  const S = store()
  if (typeof S[name] !== 'function') {
    throw new CliError(
      'PSPAS_INTERNAL',
      `this build of ${pkg.name} has no PsPrivateAccessStore.${name}(); update or rebuild the package`,
    )
  }
  return S[name].bind(S)
}

function errorReport(e) {
  if (e instanceof CliError) return { code: e.code, message: e.message, exitCode: e.exitCode }
  if (e !== null && typeof e === 'object' && typeof e.code === 'string' && e.code.startsWith('PSPAS_')) {
    return { code: e.code, message: String(e.message), exitCode: 1 }
  }
  return { code: 'PSPAS_INTERNAL', message: e instanceof Error ? e.message : String(e), exitCode: 1 }
}

function printError(report, json) {
  const { code, message } = report
  process.stderr.write(
    json ? JSON.stringify({ error: { code, message } }) + '\n' : `error ${code}: ${message}\n`,
  )
}

/** Print the result: one JSON document with --json, else the human-readable text. */
function output(opts, json, human) {
  if (opts.json) process.stdout.write(JSON.stringify(json, null, 2) + '\n')
  else process.stdout.write(typeof human === 'function' ? human() : human)
}

/** A plain-text table: columns padded with two spaces, the last column unpadded. */
function table(headers, rows) {
  const all = [headers, ...rows].map((r) => r.map(String))
  const widths = headers.map((_, i) => Math.max(...all.map((r) => r[i].length)))
  return all
    .map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ').trimEnd())
    .join('\n') + '\n'
}

/** A counter as text: integers as they are, fractions without float noise (0.1 + 0.2 -> 0.3). */
function num(n) {
  if (n === null || n === undefined) return '-'
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(12)))
}

function when(d) {
  if (!d) return 'never'
  return new Date(d).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z')
}

const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`

// ---------------------------------------------------------------------------------------------
// Progress: a bar on a TTY (stderr), plain lines otherwise

function progress(label, opts) {
  // --json keeps a redirected stderr machine-readable (only the error document, if any).
  if (opts.progress === false || (opts.json && !process.stderr.isTTY)) return { update() {}, stop() {} }
  const started = Date.now()
  const rate = (done) => {
    const s = (Date.now() - started) / 1000
    return s > 0 ? Math.round(done / s) : 0
  }
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: `${label} {bar} {percentage}% | {value}/{total} rows | {rate} rows/s | ETA {eta_formatted}`,
        barsize: 30,
        etaBuffer: 50,
        fps: 10,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    )
    let active = false
    const onSigint = () => {
      bar.stop()
      process.stderr.write(`\n${label}: interrupted\n`)
      process.exit(130)
    }
    return {
      update(p) {
        if (!active) {
          if (!(p.total > 0)) return
          bar.start(p.total, 0, { rate: 0 })
          process.once('SIGINT', onSigint)
          active = true
        }
        if (bar.getTotal() !== p.total) bar.setTotal(p.total)
        bar.update(p.done, { rate: rate(p.done) })
      },
      stop() {
        if (!active) return
        active = false
        bar.stop()
        process.removeListener('SIGINT', onSigint)
      },
    }
  }
  let lastLine = 0
  let lastDone = -1
  const line = (p) => {
    const pct = p.total > 0 ? Math.floor((100 * p.done) / p.total) : 100
    const r = rate(p.done)
    const eta = r > 0 ? `${Math.ceil((p.total - p.done) / r)}s` : '?'
    process.stderr.write(`${label}: ${p.done}/${p.total} rows (${pct}%), ${r} rows/s, ETA ${eta}\n`)
    lastLine = Date.now()
    lastDone = p.done
  }
  let last = null
  return {
    update(p) {
      last = p
      if (p.done === p.total || Date.now() - lastLine >= 1000) line(p)
    },
    stop() {
      if (last !== null && last.done !== lastDone) line(last)
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Flags -> configure()

const integer = (what) => (value) => {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError(`${what} must be a non-negative integer.`)
  }
  return Number(value)
}
const positive = (what) => (value) => {
  const n = integer(what)(value)
  if (n < 1) throw new InvalidArgumentError(`${what} must be at least 1.`)
  return n
}
const amount = (value) => {
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new InvalidArgumentError('must be a number >= 0.')
  }
  return n
}

function readKeyFile(flag, file) {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch (e) {
    throw new CliError('PSPAS_CONFIG', `cannot read ${flag} ${file}: ${e.code ?? e.message}`)
  }
}

const KEY_FILE_FLAGS = {
  publicKeyFile: ['--public-key-file', 'publicKey'],
  privateKeyFile: ['--private-key-file', 'privateKey'],
  previousPrivateKeysFile: ['--previous-private-keys-file', 'previousPrivateKeys'],
}

/** configure() with the options the flags give; everything else stays with the environment. */
function configure(opts) {
  const options = {}
  if (opts.databaseUrl !== undefined) options.databaseUrl = opts.databaseUrl
  if (opts.sqlitePath !== undefined) options.sqlitePath = opts.sqlitePath
  for (const [flag, [name, option]] of Object.entries(KEY_FILE_FLAGS)) {
    if (opts[flag] !== undefined) options[option] = readKeyFile(name, opts[flag])
  }
  store().configure(options)
}

function databaseOptions(cmd) {
  return cmd
    .option(
      '--database-url <url>',
      'postgres://…, postgresql://… or sqlite:PATH; overrides DATABASE_URL and the PSQL_DB_* variables ' +
        '(a password in it is visible to other local users in `ps`: prefer the environment)',
    )
    .option('--sqlite-path <file>', 'SQLite file when no PostgreSQL is configured (overrides PSPAS_SQLITE_PATH)')
}

function keyOptions(cmd, which) {
  if (which.includes('public')) {
    cmd.option('--public-key-file <file>', 'RSA public key PEM file (overrides RSA_API_ENCRYPTION_PUBLIC_KEY)')
  }
  if (which.includes('private')) {
    cmd.option('--private-key-file <file>', 'RSA private key PEM file (overrides RSA_API_ENCRYPTION_PRIVATE_KEY)')
  }
  if (which.includes('previous')) {
    cmd.option(
      '--previous-private-keys-file <file>',
      'file of previous RSA private key PEMs, concatenated (overrides RSA_API_ENCRYPTION_PREVIOUS_PRIVATE_KEYS)',
    )
  }
  return cmd
}

const jsonOption = (cmd) => cmd.option('--json', 'print one JSON document on stdout (errors: JSON on stderr)')
const progressOption = (cmd) =>
  cmd
    .option('--batch-size <n>', 'rows per batch (1-10000, default 100)', positive('--batch-size'))
    .option('--no-progress', 'no progress bar (terminal) or progress lines (otherwise; also off with --json) on stderr')

// ---------------------------------------------------------------------------------------------
// The API key: stdin, or a no-echo prompt on a TTY; never argv

async function readApiKey() {
  let secret
  if (process.stdin.isTTY) {
    try {
      secret = await read({
        prompt: 'API key (input hidden):',
        silent: true,
        replace: '',
        input: process.stdin,
        output: process.stderr,
      })
    } catch (e) {
      process.stderr.write('\n')
      throw new CliError('PSPAS_INVALID_ARGUMENT', `no API key entered (${e.message})`)
    }
    process.stderr.write('\n') // the muted prompt swallowed the newline of the Enter key
  } else {
    const chunks = []
    for await (const chunk of process.stdin) chunks.push(chunk)
    secret = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '')
    chunks.length = 0
  }
  if (/[\r\n]/.test(secret)) {
    throw new CliError('PSPAS_INVALID_ARGUMENT', 'the API key on stdin must be one line')
  }
  return secret
}

// ---------------------------------------------------------------------------------------------
// Commands

function keygen(opts) {
  const bits = Number(opts.bits)
  if (!opts.out && !opts.env) {
    throw usage('keygen needs --out DIR (files) or --env (.env lines on stdout)')
  }
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', {
    modulusLength: bits,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  })
  const der = crypto.createPublicKey(publicKey).export({ type: 'spki', format: 'der' })
  const fingerprint = 'SHA256:' + crypto.createHash('sha256').update(der).digest('base64').replace(/=+$/, '')

  if (opts.out) {
    const dir = path.resolve(opts.out)
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
    const privateFile = path.join(dir, 'private.pem')
    const publicFile = path.join(dir, 'public.pem')
    const write = (file, text, mode) => {
      let fd
      try {
        fd = fs.openSync(file, opts.force ? 'w' : 'wx', mode)
      } catch (e) {
        if (e.code === 'EEXIST') {
          throw new CliError('PSPAS_CONFIG', `${file} exists; not overwritten (use --force to replace it)`)
        }
        throw new CliError('PSPAS_CONFIG', `cannot write ${file}: ${e.code ?? e.message}`)
      }
      try {
        fs.fchmodSync(fd, mode) // also when --force replaced a file with looser permissions
        fs.writeSync(fd, text)
      } finally {
        fs.closeSync(fd)
      }
    }
    if (!opts.force) {
      for (const f of [privateFile, publicFile]) {
        if (fs.existsSync(f)) throw new CliError('PSPAS_CONFIG', `${f} exists; not overwritten (use --force to replace it)`)
      }
    }
    write(privateFile, privateKey, 0o600)
    write(publicFile, publicKey, 0o644)
    output(
      opts,
      { bits, fingerprint, privateKeyFile: privateFile, publicKeyFile: publicFile },
      `wrote ${privateFile} (mode 0600) and ${publicFile}\n` +
        `RSA ${bits} bits, public key fingerprint ${fingerprint}\n` +
        'use them with --private-key-file / --public-key-file, or put them in ' +
        'RSA_API_ENCRYPTION_PRIVATE_KEY / RSA_API_ENCRYPTION_PUBLIC_KEY\n',
    )
    return
  }

  // --env: asked for explicitly, so the new private key goes to stdout.
  const escape = (pem) => pem.replace(/\r?\n/g, '\\n')
  if (process.stdout.isTTY) {
    process.stderr.write(`note: the new private key is printed on this terminal (redirect to a file: ${NAME} keygen --env >> .env)\n`)
  }
  output(
    opts,
    { bits, fingerprint, env: { RSA_API_ENCRYPTION_PUBLIC_KEY: publicKey, RSA_API_ENCRYPTION_PRIVATE_KEY: privateKey } },
    `# RSA ${bits} bits, public key fingerprint ${fingerprint}\n` +
      `RSA_API_ENCRYPTION_PUBLIC_KEY="${escape(publicKey)}"\n` +
      `RSA_API_ENCRYPTION_PRIVATE_KEY="${escape(privateKey)}"\n`,
  )
}

async function add(opts) {
  configure(opts)
  if (opts.publicKeyFile === undefined && !process.env.RSA_API_ENCRYPTION_PUBLIC_KEY) {
    // Before asking for the secret: the library's own error and sentence.
    throw new CliError(
      'PSPAS_MISSING_PUBLIC_KEY',
      'RSA_API_ENCRYPTION_PUBLIC_KEY is not set in the environment variables (or pass --public-key-file)',
    )
  }
  const S = store()
  let sealed
  {
    const secret = await readApiKey()
    sealed = S.encryptApiKey(secret)
  }
  const limit = (v) => (v === undefined ? null : v)
  const configuration = {
    maxBudget: { perDay: limit(opts.perDay), petMonth: limit(opts.perMonth), total: limit(opts.total) },
    emailNotificationBudgetThresholds: {},
  }
  if (opts.dailyThreshold !== undefined) configuration.emailNotificationBudgetThresholds.daily = opts.dailyThreshold
  if (opts.monthlyThreshold !== undefined) configuration.emailNotificationBudgetThresholds.monthly = opts.monthlyThreshold
  const row = await S.addPreEncryptedKey(
    opts.group,
    opts.user,
    opts.model,
    opts.api,
    sealed.encryptedApiKey,
    sealed.encryptedAesKey,
    configuration,
  )
  sealed = null
  output(
    opts,
    {
      id: row.id,
      groupId: row.group_id,
      userId: row.user_id,
      aiModelId: row.ai_model_id ?? null,
      externalApiId: row.external_api_id ?? null,
      active: row.is_active,
      limits: { daily: configuration.maxBudget.perDay, monthly: configuration.maxBudget.petMonth, total: configuration.maxBudget.total },
    },
    `${row.id}\n`,
  )
}

function target(row) {
  const parts = []
  if (row.ai_model_id != null) parts.push(`model ${row.ai_model_id}`)
  if (row.external_api_id != null) parts.push(`api ${row.external_api_id}`)
  return parts.length ? parts.join(', ') : '-'
}

async function list(opts) {
  configure(opts)
  const filter = {}
  if (opts.model !== undefined) filter.aiModelId = opts.model
  if (opts.api !== undefined) filter.externalApiId = opts.api
  const rows = await store().getApiKeys(opts.group, filter)
  // Only these fields leave the process: never the encrypted columns.
  const keys = rows.map((r) => {
    const max = (r.configuration && r.configuration.maxBudget) || {}
    const lim = (v) => (typeof v === 'number' ? v : null)
    return {
      id: r.id,
      groupId: r.group_id,
      userId: r.user_id,
      aiModelId: r.ai_model_id ?? null,
      externalApiId: r.external_api_id ?? null,
      active: r.is_active,
      used: { daily: r.usage.dailyUse, monthly: r.usage.monthlyUse, total: r.usage.totalUse },
      limits: { daily: lim(max.perDay), monthly: lim(max.petMonth), total: lim(max.total) },
      lastUsedAt: r.last_used_at ? r.last_used_at.toISOString() : null,
      createdAt: r.created_at ? r.created_at.toISOString() : null,
    }
  })
  output(opts, { groupId: opts.group, keys }, () => {
    if (keys.length === 0) return `no keys in group ${opts.group}\n`
    return table(
      ['ID', 'MODEL/API', 'ACTIVE', 'DAILY', 'MONTHLY', 'TOTAL', 'LAST USED'],
      keys.map((k, i) => [
        k.id,
        target(rows[i]),
        k.active ? 'yes' : 'no',
        `${num(k.used.daily)}/${num(k.limits.daily)}`,
        `${num(k.used.monthly)}/${num(k.limits.monthly)}`,
        `${num(k.used.total)}/${num(k.limits.total)}`,
        when(k.lastUsedAt),
      ]),
    )
  })
}

const notFound = (id) => new CliError('PSPAS_NOT_FOUND', `no key with id ${id}`)

async function status(id, opts) {
  configure(opts)
  const s = await store().getBudgetStatus(id)
  if (s === null) throw notFound(id)
  output(opts, s, () => {
    const period = (name, p) => [name, num(p.used), num(p.limit), num(p.remaining), p.periodStart ? when(p.periodStart) : '-']
    return (
      `key ${s.id}: ${s.isActive ? 'active' : 'inactive'}, budgets ${s.enforced ? 'enforced' : 'counted only (not enforced)'}\n` +
      table(
        ['PERIOD', 'USED', 'LIMIT', 'REMAINING', 'PERIOD START'],
        [period('daily', s.daily), period('monthly', s.monthly), period('total', s.total)],
      )
    )
  })
}

async function setActive(id, active, opts) {
  configure(opts)
  const updated = await store().setKeyStatus(id, active)
  if (!updated) throw notFound(id)
  output(opts, { id, active }, `key ${id} ${active ? 'enabled' : 'disabled'}\n`)
}

function cannotOpenError(ids, total, verb) {
  return new CliError(
    'PSPAS_DECRYPT_FAILED',
    `${ids.length} of ${plural(total, 'key')} cannot be opened with the configured private key(s)${verb}: ${ids.join(', ')}`,
  )
}

async function verify(opts) {
  configure(opts)
  const verifyKeys = method('verifyKeys')
  const bar = progress('verify', opts)
  let r
  try {
    r = await verifyKeys({ batchSize: opts.batchSize, onProgress: (p) => bar.update(p) })
  } finally {
    bar.stop()
  }
  const report = { total: r.total, ok: r.ok, previousKey: r.previousKey, cannotOpen: r.cannotOpen }
  output(opts, report, () => {
    let text =
      `verified ${plural(r.total, 'key')}: ${r.ok} ok, ${r.previousKey} only with a previous private key, ` +
      `${r.cannotOpen.length} cannot open\n`
    if (r.cannotOpen.length) text += `cannot open: ${r.cannotOpen.join(', ')}\n`
    if (r.previousKey) text += `run \`${NAME} rotate\` to rewrap the ${plural(r.previousKey, 'key')} under the current key pair\n`
    return text
  })
  if (r.cannotOpen.length) throw cannotOpenError(r.cannotOpen, r.total, '')
}

async function rotate(opts) {
  configure(opts)
  const rotateKeys = method('rotateKeys')
  const newPublicKey = opts.newPublicKey === undefined ? undefined : readKeyFile('--new-public-key', opts.newPublicKey)
  const bar = progress('rotate', opts)
  let r
  try {
    r = await rotateKeys({ newPublicKey, batchSize: opts.batchSize, onProgress: (p) => bar.update(p) })
  } finally {
    bar.stop()
  }
  const report = {
    total: r.total,
    rotated: r.rotated,
    alreadyCurrent: r.alreadyCurrent,
    cannotOpen: r.cannotOpen,
    changedMeanwhile: r.changedMeanwhile ?? 0,
    seconds: r.seconds,
  }
  output(opts, report, () => {
    let text =
      `rotated ${r.rotated} of ${plural(r.total, 'key')} (${r.alreadyCurrent} already current, ` +
      `${r.cannotOpen.length} cannot open) in ${num(Math.round(r.seconds * 100) / 100)} s\n`
    if (r.cannotOpen.length) text += `cannot open (left unchanged): ${r.cannotOpen.join(', ')}\n`
    if (report.changedMeanwhile) {
      text += `${plural(report.changedMeanwhile, 'key')} changed while being rewrapped: run \`${NAME} rotate\` again\n`
    }
    return text
  })
  if (r.cannotOpen.length) throw cannotOpenError(r.cannotOpen, r.total, ' (left unchanged)')
}

async function migrate(opts) {
  configure(opts)
  await method('migrate')()
  output(opts, { table: TABLE, ready: true }, `table ${TABLE} is ready\n`)
}

// ---------------------------------------------------------------------------------------------
// The program

function buildProgram() {
  const program = new Command(NAME)
  program
    .description(
      `Operate the ${TABLE} store of ${pkg.name}: key pairs, customers' API keys, budgets, ` +
        'verification and rotation of the data keys.\n' +
        'Configuration comes from the same environment variables as the library ' +
        '(DATABASE_URL, RSA_API_ENCRYPTION_PUBLIC_KEY, RSA_API_ENCRYPTION_PRIVATE_KEY, …); flags override them.\n' +
        'Exit codes: 0 success, 1 failure, 2 usage error.',
    )
    .version(pkg.version, '-V, --version')
    .exitOverride()
    .configureOutput({
      // Usage errors are printed by the catch below (with a PSPAS_USAGE code, or as JSON).
      outputError: () => {},
    })
    .showSuggestionAfterError(true)
    .helpCommand('help [command]', 'show the help of a command')

  const run = (fn) => (...args) => fn(...args)

  jsonOption(
    program
      .command('keygen')
      .description('generate a new RSA key pair: files (private key mode 0600) or .env lines')
      .addOption(new Option('--bits <bits>', 'RSA modulus size').choices(['2048', '3072', '4096']).default('2048'))
      .addOption(new Option('--out <dir>', 'write private.pem (0600) and public.pem into DIR').conflicts('env'))
      .addOption(new Option('--env', 'print RSA_API_ENCRYPTION_PUBLIC_KEY / _PRIVATE_KEY lines with escaped newlines on stdout'))
      .option('--force', 'with --out: replace existing files'),
  ).action(run((opts) => keygen(opts)))

  jsonOption(
    keyOptions(
      databaseOptions(
        program
          .command('add')
          .description(
            'store a customer API key for a group; the key is read from stdin, or from a no-echo prompt ' +
              'on a terminal (never from the command line); prints the new id',
          )
          .requiredOption('--group <id>', 'group id', integer('--group'))
          .requiredOption('--user <id>', 'id of the user adding the key', integer('--user'))
          .addOption(new Option('--model <id>', 'AI model id').argParser(integer('--model')).conflicts('api'))
          .addOption(new Option('--api <id>', 'external API id').argParser(integer('--api')))
          .option('--per-day <n>', 'daily budget (maxBudget.perDay)', amount)
          .option('--per-month <n>', 'monthly budget (maxBudget.petMonth)', amount)
          .option('--total <n>', 'total budget (maxBudget.total)', amount)
          .option('--daily-threshold <n>', 'daily notification threshold (≤ 1: fraction of --per-day)', amount)
          .option('--monthly-threshold <n>', 'monthly notification threshold (≤ 1: fraction of --per-month)', amount),
      ),
      ['public'],
    ),
  ).action(run((opts) => add(opts)))

  jsonOption(
    databaseOptions(
      program
        .command('list')
        .description("list a group's keys: id, model/api, active, used vs limit per day / month / total, last used")
        .requiredOption('--group <id>', 'group id', integer('--group'))
        .option('--model <id>', 'only keys of this AI model', integer('--model'))
        .option('--api <id>', 'only keys of this external API', integer('--api')),
    ),
  ).action(run((opts) => list(opts)))

  jsonOption(
    databaseOptions(
      program
        .command('status')
        .description('where a key stands against its budgets (getBudgetStatus)')
        .argument('<id>', 'key id', integer('id')),
    ),
  ).action(run((id, opts) => status(id, opts)))

  for (const [name, active] of [['enable', true], ['disable', false]]) {
    jsonOption(
      databaseOptions(
        program
          .command(name)
          .description(`${name} a key (setKeyStatus)`)
          .argument('<id>', 'key id', integer('id')),
      ),
    ).action(run((id, opts) => setActive(id, active, opts)))
  }

  jsonOption(
    progressOption(
      keyOptions(
        databaseOptions(
          program
            .command('verify')
            .description(
              "open every key's data key with the configured private key (and previous ones); prints counts " +
                'by outcome and the ids that cannot be opened, never a secret; exit 1 if any cannot',
            ),
        ),
        ['private', 'previous'],
      ),
    ),
  ).action(run((opts) => verify(opts)))

  jsonOption(
    progressOption(
      keyOptions(
        databaseOptions(
          program
            .command('rotate')
            .description(
              "rewrap every key's data key from the previous private key(s) to the current key pair; " +
                'exit 1 if some cannot be opened (they are left unchanged)',
            )
            .option(
              '--new-public-key <file>',
              'PEM file of the new public key: checked to be the public half of the configured private key',
            ),
        ),
        ['private', 'previous'],
      ),
    ),
  ).action(run((opts) => rotate(opts)))

  jsonOption(
    databaseOptions(
      program
        .command('migrate')
        .description(`create the ${TABLE} table if it is missing (what the library does on first use), for deploys`),
    ),
  ).action(run((opts) => migrate(opts)))

  return program
}

/**
 * A usage error's message without the values the user typed: commander quotes them ('…'), and
 * one may be a secret typed in the wrong place (`--api-key=sk-…`). Option names, their
 * placeholders and command names stay.
 */
function redactUsage(message) {
  return message.replace(/'([^']*)'/g, (whole, inner) => {
    const flag = /^(-{1,2}[A-Za-z][\w-]*)=/.exec(inner)
    if (flag) return `'${flag[1]}=…'`
    if (/^-{1,2}[A-Za-z][\w-]*(?: <[\w.-]+>| \[[\w.-]+\])?$/.test(inner)) return whole
    if (/^[a-z]{1,12}$/.test(inner)) return whole // a mistyped command name
    return "'…'"
  })
}

async function main(argv) {
  const dashDash = argv.indexOf('--')
  const json = (dashDash < 0 ? argv : argv.slice(0, dashDash)).includes('--json')
  const program = buildProgram()
  let exitCode = 0
  try {
    await program.parseAsync(argv, { from: 'user' })
  } catch (e) {
    if (e && typeof e.code === 'string' && e.code.startsWith('commander.')) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || (e.code === 'commander.help' && e.exitCode === 0)) {
        exitCode = 0
      } else {
        const message = e.code === 'commander.help'
          ? `a command is needed (see ${NAME} --help)`
          : redactUsage(String(e.message).replace(/^error: /, ''))
        printError({ code: 'PSPAS_USAGE', message }, json)
        exitCode = 2
      }
    } else {
      const report = errorReport(e)
      printError(report, json)
      exitCode = report.exitCode
    }
  } finally {
    if (library !== null) {
      try {
        await library.PsPrivateAccessStore.close()
      } catch {
        // closing is best effort: the outcome is already reported
      }
    }
  }
  return exitCode
}

process.exitCode = await main(process.argv.slice(2))
