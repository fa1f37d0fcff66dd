// Writes tests/fixtures/golden.json: envelopes sealed by node:crypto the original's way, with
// a throwaway RSA-2048 test key pair in every PEM form the package accepts. Run once; the
// output is committed and pins the wire format in `cargo test` and jest.
import { createPrivateKey, createPublicKey } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const original = require('../__test__/support/original-crypto.cjs')

const { publicKey, privateKey } = original.generateKeys(2048)
const priv = createPrivateKey(privateKey)
const pub = createPublicKey(publicKey)
const plaintexts = ['sk-test-0123456789abcdef', 'x', 'sk-ant-api03-' + 'A'.repeat(95), 'ключ-🔑-ü', ' spaces and \n newline ']
const vectors = plaintexts.map((plaintext) => ({ plaintext, ...original.encryptApiKey(plaintext, publicKey) }))
const twelveByteIv = { plaintext: 'twelve-byte-iv', ...original.encryptApiKey('twelve-byte-iv', publicKey, 12) }
const upper = { ...vectors[0], encryptedApiKey: vectors[0].encryptedApiKey.toUpperCase() }
const golden = {
  note: 'Made by scripts/make-golden.mjs with node:crypto. Throwaway test keys: never use them for anything else.',
  keys: {
    privatePkcs8: privateKey,
    privatePkcs1: priv.export({ type: 'pkcs1', format: 'pem' }),
    publicSpki: publicKey,
    publicPkcs1: pub.export({ type: 'pkcs1', format: 'pem' }),
  },
  vectors: [...vectors, twelveByteIv, upper],
}
writeFileSync(new URL('../tests/fixtures/golden.json', import.meta.url), JSON.stringify(golden, null, 2) + '\n')
console.log(`wrote ${golden.vectors.length} vectors`)
