// Keys for the specs, the drills and the bench: fresh RSA key pairs, the environment variables
// that hand them to the package (in this process or a child's), and storing sealed API keys
// through the package's own public methods (the store is passed in: the harness never loads
// the package under test).
'use strict'
const crypto = require('node:crypto')

/** A fresh RSA key pair, PEM: { publicKey (spki), privateKey (pkcs8) }. */
function generateKeys(modulusLength = 2048) {
  return crypto.generateKeyPairSync('rsa', {
    modulusLength,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  })
}

/** The RSA_API_ENCRYPTION_* variables of a deployment: the given keys only. */
function keyEnv({ publicKey, privateKey, previous } = {}) {
  const env = {}
  if (publicKey) env.RSA_API_ENCRYPTION_PUBLIC_KEY = publicKey
  if (privateKey) env.RSA_API_ENCRYPTION_PRIVATE_KEY = privateKey
  if (previous) env.RSA_API_ENCRYPTION_PREVIOUS_PRIVATE_KEYS = previous
  return env
}

/** A child process's environment: this one's (or base), plus the keys. */
const childEnv = (keys, base = process.env) => ({ ...base, ...keyEnv(keys) })

/**
 * Seal and store API keys through the package: configure `store` (the package's
 * PsPrivateAccessStore) for databaseUrl and keys, optionally migrate, add every row with
 * `concurrency` additions in flight (in order when 1), close. A row is { groupId, plaintext,
 * userId = 1, aiModelId, externalApiId, configuration = {} }.
 */
async function storeSealedKeys(store, { databaseUrl, keys, rows, concurrency = 1, migrate = false }) {
  store.configure({ databaseUrl, publicKey: keys.publicKey, privateKey: keys.privateKey })
  if (migrate) await store.migrate()
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < rows.length) {
        const { groupId, plaintext, userId = 1, aiModelId, externalApiId, configuration = {} } = rows[next++]
        const sealed = store.encryptApiKey(plaintext)
        await store.addPreEncryptedKey(groupId, userId, aiModelId, externalApiId, sealed.encryptedApiKey, sealed.encryptedAesKey, configuration)
      }
    }),
  )
  await store.close()
}

module.exports = { generateKeys, keyEnv, childEnv, storeSealedKeys }
