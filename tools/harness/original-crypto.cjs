// The Sequelize original's envelope code, reproduced with node:crypto: the reference the
// package must stay wire-compatible with (the specs), the baseline's decrypt in the benchmark,
// and the drills' independent check of which private key opens a row.
'use strict'
const crypto = require('node:crypto')
const { generateKeys } = require('./keys.cjs')

const OAEP = { padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }

function encryptApiKey(apiKey, publicKey, ivLength = 16) {
  const aesKey = crypto.randomBytes(32)
  const iv = crypto.randomBytes(ivLength)
  const cipher = crypto.createCipheriv('aes-256-gcm', aesKey, iv)
  let encrypted = cipher.update(apiKey, 'utf8', 'hex')
  encrypted += cipher.final('hex')
  const authTag = cipher.getAuthTag()
  const encryptedAesKey = crypto.publicEncrypt({ key: publicKey, ...OAEP }, aesKey)
  return {
    encryptedApiKey: `${iv.toString('hex')}:${authTag.toString('hex')}:${encrypted}`,
    encryptedAesKey: encryptedAesKey.toString('base64'),
  }
}

/** The data key of a row (RSA-OAEP SHA-256); throws if privateKey does not open it. */
const unwrapAesKey = (encryptedAesKey, privateKey) => crypto.privateDecrypt({ key: privateKey, ...OAEP }, Buffer.from(encryptedAesKey, 'base64'))

function decryptApiKey(encryptedApiKey, encryptedAesKey, privateKey) {
  const [ivHex, authTagHex, encryptedHex] = encryptedApiKey.split(':')
  const aesKey = unwrapAesKey(encryptedAesKey, privateKey)
  const decipher = crypto.createDecipheriv('aes-256-gcm', aesKey, Buffer.from(ivHex, 'hex'))
  decipher.setAuthTag(Buffer.from(authTagHex, 'hex'))
  let decrypted = decipher.update(encryptedHex, 'hex', 'utf8')
  decrypted += decipher.final('utf8')
  return decrypted
}

module.exports = { encryptApiKey, decryptApiKey, unwrapAesKey, generateKeys }
