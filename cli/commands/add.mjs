// `add`: store a customer API key for a group. The key is read from stdin, or from a no-echo
// prompt on a terminal, never from the command line; prints the new id (or the row's view).

import { Option } from 'commander'
import { read } from 'read'
import { CliError } from '../errors.mjs'
import { store } from '../library.mjs'
import { configurationFrom, configure, integer, withOptions } from '../options.mjs'
import { keyView, output } from '../output.mjs'

export function register(program) {
  const cmd = program
    .command('add')
    .description(
      'store a customer API key for a group; the key is read from stdin, or from a no-echo prompt ' +
        'on a terminal (never from the command line); prints the new id',
    )
    .requiredOption('--group <id>', 'group id', integer('--group'))
    .requiredOption('--user <id>', 'id of the user adding the key', integer('--user'))
    .addOption(new Option('--model <id>', 'AI model id').argParser(integer('--model')).conflicts('api'))
    .addOption(new Option('--api <id>', 'external API id').argParser(integer('--api')))
  withOptions(cmd, ['budget', 'database', 'public-key', 'private-keys', 'json']).action((opts) => add(opts))
}

/** The API key: stdin, or a no-echo prompt on a TTY; never argv. */
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
  const configuration = configurationFrom(opts)
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
  output(opts, keyView(row, { configuration }), `${row.id}\n`)
}
