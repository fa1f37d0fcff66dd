// The main job on the embedded default (a SQLite file in the working directory): seal a
// customer's API key, store it for a group, spend from it, and print its usage.
import { generateKeyPairSync } from 'node:crypto'
import { PsPrivateAccessStore } from '@policysynth/private-access-store'

if (!process.env.RSA_API_ENCRYPTION_PUBLIC_KEY || !process.env.RSA_API_ENCRYPTION_PRIVATE_KEY) {
  // A throwaway pair for the demo only; deployments set both variables.
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  })
  process.env.RSA_API_ENCRYPTION_PUBLIC_KEY = publicKey
  process.env.RSA_API_ENCRYPTION_PRIVATE_KEY = privateKey
  console.log('demo: no RSA keys in the environment, using a throwaway pair')
}

const groupId = 1 + Math.floor(Math.random() * 1_000_000)
const { encryptedApiKey, encryptedAesKey } = PsPrivateAccessStore.encryptApiKey('sk-demo-0123456789')
const record = await PsPrivateAccessStore.addPreEncryptedKey(groupId, 2, 3, undefined, encryptedApiKey, encryptedAesKey, {
  maxBudget: { perDay: 1000, petMonth: 20000, total: 100000 },
  emailNotificationBudgetThresholds: { daily: 0.8, monthly: 0.9 },
})
console.log(`stored key #${record.id} for group ${groupId} (${record.encrypted_api_key.slice(0, 24)}…)`)

for (const amount of [5, 10, 2.5]) {
  const apiKey = await PsPrivateAccessStore.incrementUsageAndGetApiKey(groupId, { aiModelId: 3, incrementAmount: amount })
  console.log(`spent ${amount} with ${apiKey === null ? 'no key' : apiKey.slice(0, 8) + '…'}`)
}
console.log('usage:', await PsPrivateAccessStore.getUsage(record.id))
await PsPrivateAccessStore.close()
