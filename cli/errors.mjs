// Errors of the CLI: the CliError class, the common errors, and any thrown value (or commander
// usage error) turned into { code, message, exitCode } and printed on stderr.
//
// Exit codes: 0 success, 1 failure, 2 usage error. Errors go to stderr as
// `error PSPAS_CODE: message`, or with --json as {"error":{"code","message"}}.

import { plural } from './output.mjs'

/** A failure of the CLI itself, with a PSPAS_* code and an exit code. */
export class CliError extends Error {
  constructor(code, message, exitCode = 1) {
    super(message)
    this.code = code
    this.exitCode = exitCode
  }
}

export const usage = (message) => new CliError('PSPAS_USAGE', message, 2)

export const notFound = (id) => new CliError('PSPAS_NOT_FOUND', `no key with id ${id}`)

/** verify / rotate: some keys' data keys cannot be opened with the configured private key(s). */
export function cannotOpenError(ids, total, verb) {
  return new CliError(
    'PSPAS_DECRYPT_FAILED',
    `${ids.length} of ${plural(total, 'key')} cannot be opened with the configured private key(s)${verb}: ${ids.join(', ')}`,
  )
}

/** verify: rows that share one sealed key (copies that could serve one group another's key). */
export function duplicatesError(sets) {
  return new CliError(
    'PSPAS_DUPLICATE_KEY',
    `${plural(sets.length, 'sealed key')} stored in more than one row: ${sets.map((ids) => ids.join('+')).join(', ')}`,
  )
}

/**
 * A usage error's message without the values the user typed: commander quotes them ('…'), and
 * one may be a secret typed in the wrong place (`--api-key=sk-…`). Option names, their
 * placeholders and command names stay.
 */
export function redactUsage(message) {
  return message.replace(/'([^']*)'/g, (whole, inner) => {
    const flag = /^(-{1,2}[A-Za-z][\w-]*)=/.exec(inner)
    if (flag) return `'${flag[1]}=…'`
    if (/^-{1,2}[A-Za-z][\w-]*(?: <[\w.-]+>| \[[\w.-]+\])?$/.test(inner)) return whole
    if (/^[a-z]{1,12}$/.test(inner)) return whole // a mistyped command name
    return "'…'"
  })
}

/**
 * What to report for a thrown value: { code, message, exitCode }. An exitCode of 0 (help or
 * version displayed) means there is nothing to report. `name` is the program's name.
 */
export function errorReport(e, name) {
  if (e && typeof e.code === 'string' && e.code.startsWith('commander.')) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || (e.code === 'commander.help' && e.exitCode === 0)) {
      return { code: null, message: null, exitCode: 0 }
    }
    const message = e.code === 'commander.help'
      ? `a command is needed (see ${name} --help)`
      : redactUsage(String(e.message).replace(/^error: /, ''))
    return { code: 'PSPAS_USAGE', message, exitCode: 2 }
  }
  if (e instanceof CliError) return { code: e.code, message: e.message, exitCode: e.exitCode }
  if (e !== null && typeof e === 'object' && typeof e.code === 'string' && e.code.startsWith('PSPAS_')) {
    return { code: e.code, message: String(e.message), exitCode: 1 }
  }
  return { code: 'PSPAS_INTERNAL', message: e instanceof Error ? e.message : String(e), exitCode: 1 }
}

/** The error on stderr: one line, or one JSON document with --json. */
export function printError(report, json) {
  const { code, message } = report
  process.stderr.write(
    json ? JSON.stringify({ error: { code, message } }) + '\n' : `error ${code}: ${message}\n`,
  )
}
