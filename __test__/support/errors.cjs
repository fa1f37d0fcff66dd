// An asymmetric matcher for this package's errors: an `Error` of the test file's own realm
// (jest gives each file its own), with a stable `err.code` and, when given, the exact
// `err.message` (a string) or a message matching a RegExp. Use with toThrow, rejects.toThrow
// and toEqual.
'use strict'

function coded(code, message) {
  return {
    asymmetricMatch(e) {
      if (!(e instanceof Error) || e.code !== code) return false
      if (message === undefined) return true
      return message instanceof RegExp ? message.test(e.message) : e.message === message
    },
    toAsymmetricMatcher() {
      return `coded(${code}${message === undefined ? '' : `, ${String(message)}`})`
    },
  }
}

module.exports = { coded }
