// ps-access-store: the program. Registers the commands (one module each in ./commands), parses
// the arguments with commander, and maps the outcome to an exit code: 0 success, 1 failure,
// 2 usage error (errors on stderr, as JSON with --json). Closes the store when a command
// opened it.
//
// Just another caller of the package's public entry (../dist/index.js): every command maps to
// library calls. Configuration comes from the same environment variables as the library;
// flags override them through PsPrivateAccessStore.configure(). Secrets (API keys, PEMs) are
// never accepted as flag values, only as files (keys) or on stdin / a no-echo prompt (API
// keys), and no command prints an API key, a ciphertext or a private key (the one exception
// is `keygen --env`, which prints a new key pair because it is asked to).
//
// Libraries: commander (arguments, help, usage errors), read (npm's own no-echo prompt),
// cli-progress (progress bar on a TTY).

import { Command } from 'commander'
import { errorReport, printError } from './errors.mjs'
import { NAME, TABLE, closeStore, pkg } from './library.mjs'
import * as keygen from './commands/keygen.mjs'
import * as add from './commands/add.mjs'
import * as list from './commands/list.mjs'
import * as status from './commands/status.mjs'
import * as budget from './commands/budget.mjs'
import * as enableDisable from './commands/enable-disable.mjs'
import * as verify from './commands/verify.mjs'
import * as rotate from './commands/rotate.mjs'
import * as bind from './commands/bind.mjs'
import * as migrate from './commands/migrate.mjs'
import * as events from './commands/events.mjs'

/** The commands, in the order `--help` lists them. */
const COMMANDS = [keygen, add, list, status, budget, enableDisable, events, verify, rotate, bind, migrate]

export function buildProgram() {
  const program = new Command(NAME)
  program
    .description(
      `Operate the ${TABLE} store of ${pkg.name}: key pairs, customers' API keys, budgets, ` +
        'budget events, verification and rotation of the data keys.\n' +
        'Configuration comes from the same environment variables as the library ' +
        '(DATABASE_URL, RSA_API_ENCRYPTION_PUBLIC_KEY, RSA_API_ENCRYPTION_PRIVATE_KEY, …); flags override them.\n' +
        'Exit codes: 0 success, 1 failure, 2 usage error.',
    )
    .version(pkg.version, '-V, --version')
    .exitOverride()
    .configureOutput({
      // Usage errors are printed by main() (with a PSPAS_USAGE code, or as JSON).
      outputError: () => {},
    })
    .showSuggestionAfterError(true)
    .helpCommand('help [command]', 'show the help of a command')
  for (const command of COMMANDS) command.register(program)
  return program
}

/** Run the CLI on `argv` (without node and the script); resolves to the exit code. */
export async function main(argv) {
  const dashDash = argv.indexOf('--')
  const json = (dashDash < 0 ? argv : argv.slice(0, dashDash)).includes('--json')
  const program = buildProgram()
  let exitCode = 0
  try {
    await program.parseAsync(argv, { from: 'user' })
  } catch (e) {
    const report = errorReport(e, NAME)
    if (report.exitCode !== 0) printError(report, json)
    exitCode = report.exitCode
  } finally {
    await closeStore()
  }
  return exitCode
}
