// `keygen`: a new RSA key pair, written as files (private key mode 0600) or printed as .env
// lines (the one command that prints a private key, because it is asked to). Needs no addon.

import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { Option } from 'commander'
import { CliError, usage } from '../errors.mjs'
import { NAME } from '../library.mjs'
import { withOptions } from '../options.mjs'
import { output } from '../output.mjs'

export function register(program) {
  const cmd = program
    .command('keygen')
    .description('generate a new RSA key pair: files (private key mode 0600) or .env lines')
    .addOption(new Option('--bits <bits>', 'RSA modulus size').choices(['2048', '3072', '4096']).default('2048'))
    .addOption(new Option('--out <dir>', 'write private.pem (0600) and public.pem into DIR').conflicts('env'))
    .addOption(new Option('--env', 'print RSA_API_ENCRYPTION_PUBLIC_KEY / _PRIVATE_KEY lines with escaped newlines on stdout'))
    .option('--force', 'with --out: replace existing files')
  withOptions(cmd, ['json']).action((opts) => keygen(opts))
}

/** Write `text` to a new `file` (or replace it with --force) with permissions `mode`. */
function writeKeyFile(file, text, mode, force) {
  let fd
  try {
    fd = fs.openSync(file, force ? 'w' : 'wx', mode)
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
    if (!opts.force) {
      for (const f of [privateFile, publicFile]) {
        if (fs.existsSync(f)) throw new CliError('PSPAS_CONFIG', `${f} exists; not overwritten (use --force to replace it)`)
      }
    }
    writeKeyFile(privateFile, privateKey, 0o600, opts.force)
    writeKeyFile(publicFile, publicKey, 0o644, opts.force)
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
