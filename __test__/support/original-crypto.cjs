// The Sequelize original's envelope code: the harness's (tools/harness/original-crypto.cjs),
// re-exported for the specs that require this path.
'use strict'
module.exports = require('../../tools/harness/original-crypto.cjs')
