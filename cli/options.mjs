// The shared option groups of the commands and what they turn into. A command lists the groups
// it takes: withOptions(cmd, ['database', 'public-key', 'json']). Groups are always added in
// the same order (budget, database, keys, progress, json), after the command's own options, so every
// --help lists them alike. Also the argument parsers and configure(): flags -> the library's
// PsPrivateAccessStore.configure(); everything a flag does not give stays with the environment.
// Secrets are never flag values: keys come from files (API keys: stdin / prompt, see add).

import fs from 'node:fs'
import { InvalidArgumentError } from 'commander'
import { CliError } from './errors.mjs'
import { store } from './library.mjs'

// ---------------------------------------------------------------------------------------------
// Argument parsers

export const integer = (what) => (value) => {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError(`${what} must be a non-negative integer.`)
  }
  return Number(value)
}

export const positive = (what) => (value) => {
  const n = integer(what)(value)
  if (n < 1) throw new InvalidArgumentError(`${what} must be at least 1.`)
  return n
}

export const amount = (value) => {
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new InvalidArgumentError('must be a number >= 0.')
  }
  return n
}

// ---------------------------------------------------------------------------------------------
// The option groups, in the order they are added

const GROUPS = {
  budget: (cmd) =>
    cmd
      .option('--per-day <n>', 'daily budget (maxBudget.perDay)', amount)
      .option('--per-month <n>', 'monthly budget (maxBudget.petMonth)', amount)
      .option('--total <n>', 'total budget (maxBudget.total)', amount)
      .option('--daily-threshold <n>', 'daily notification threshold (≤ 1: fraction of --per-day)', amount)
      .option('--monthly-threshold <n>', 'monthly notification threshold (≤ 1: fraction of --per-month)', amount),

  database: (cmd) =>
    cmd
      .option(
        '--database-url <url>',
        'postgres://…, postgresql://… or sqlite:PATH; overrides DATABASE_URL and the PSQL_DB_* variables ' +
          '(a password in it is visible to other local users in `ps`: prefer the environment)',
      )
      .option('--sqlite-path <file>', 'SQLite file when no PostgreSQL is configured (overrides PSPAS_SQLITE_PATH)'),

  'public-key': (cmd) =>
    cmd.option('--public-key-file <file>', 'RSA public key PEM file (overrides RSA_API_ENCRYPTION_PUBLIC_KEY)'),

  'private-keys': (cmd) =>
    cmd
      .option('--private-key-file <file>', 'RSA private key PEM file (overrides RSA_API_ENCRYPTION_PRIVATE_KEY)')
      .option(
        '--previous-private-keys-file <file>',
        'file of previous RSA private key PEMs, concatenated (overrides RSA_API_ENCRYPTION_PREVIOUS_PRIVATE_KEYS)',
      ),

  progress: (cmd) =>
    cmd
      .option('--batch-size <n>', 'rows per batch (1-10000, default 100)', positive('--batch-size'))
      .option('--no-progress', 'no progress bar (terminal) or progress lines (otherwise; also off with --json) on stderr'),

  json: (cmd) => cmd.option('--json', 'print one JSON document on stdout (errors: JSON on stderr)'),
}

/** Add the option groups `names` (keys of GROUPS) to `cmd`, in GROUPS order; returns `cmd`. */
export function withOptions(cmd, names) {
  for (const name of names) {
    if (!Object.hasOwn(GROUPS, name)) throw new Error(`unknown option group ${name}`)
  }
  for (const [name, add] of Object.entries(GROUPS)) if (names.includes(name)) add(cmd)
  return cmd
}

/** The budget configuration the budget flags give (a limit or threshold not given: none). */
export function configurationFrom(opts) {
  const limit = (v) => (v === undefined ? null : v)
  const configuration = {
    maxBudget: { perDay: limit(opts.perDay), petMonth: limit(opts.perMonth), total: limit(opts.total) },
    emailNotificationBudgetThresholds: {},
  }
  if (opts.dailyThreshold !== undefined) configuration.emailNotificationBudgetThresholds.daily = opts.dailyThreshold
  if (opts.monthlyThreshold !== undefined) configuration.emailNotificationBudgetThresholds.monthly = opts.monthlyThreshold
  return configuration
}

// ---------------------------------------------------------------------------------------------
// Flags -> configure()

/** The text of a key file named by `flag`, or a PSPAS_CONFIG error. */
export function readKeyFile(flag, file) {
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
export function configure(opts) {
  const options = {}
  if (opts.databaseUrl !== undefined) options.databaseUrl = opts.databaseUrl
  if (opts.sqlitePath !== undefined) options.sqlitePath = opts.sqlitePath
  for (const [flag, [name, option]] of Object.entries(KEY_FILE_FLAGS)) {
    if (opts[flag] !== undefined) options[option] = readKeyFile(name, opts[flag])
  }
  store().configure(options)
}
