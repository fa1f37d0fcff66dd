// The library rotator / verifier of the rotation drill (--rotator lib): a child process,
// `lib-rotator.mjs rotate|verify <batch size>`, calling PsPrivateAccessStore.rotateKeys() /
// verifyKeys() configured by the environment only; prints {"progress":…} lines, then
// {"result":…} (exit 0) or {"error":…} on stderr (exit 1).
import { createRequire } from 'node:module'
import { ROOT } from './common.mjs'

const require = createRequire(import.meta.url)
const { writeReport } = require('../../harness/workers.cjs')

const [mode, batch] = process.argv.slice(2)
const { PsPrivateAccessStore: S } = require(ROOT)
const batchSize = Number(batch)
const line = (o) => process.stdout.write(JSON.stringify(o) + '\n')
let result
try {
  const onProgress = (progress) => line({ progress })
  result =
    mode === 'rotate'
      ? await S.rotateKeys({ batchSize, newPublicKey: process.env.RSA_API_ENCRYPTION_PUBLIC_KEY, onProgress })
      : await S.verifyKeys({ batchSize, onProgress })
} catch (e) {
  await S.close().catch(() => {})
  process.stderr.write(JSON.stringify({ error: { code: e.code, message: e.message } }) + '\n')
  process.exit(1)
}
await S.close()
await writeReport({ result })
process.exit(0)
