// The test/drill/bench harness in one require: fresh databases (db.cjs), keys (keys.cjs), the
// Sequelize original's envelope code (original-crypto.cjs) and worker processes (workers.cjs).
'use strict'
module.exports = {
  ...require('./db.cjs'),
  ...require('./keys.cjs'),
  ...require('./workers.cjs'),
  original: require('./original-crypto.cjs'),
}
