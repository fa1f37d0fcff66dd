// Real databases for the specs: the harness's (tools/harness/db.cjs), re-exported for the
// specs that require this path.
'use strict'
const { ADMIN_URL, freshPostgres, freshSqlite, BACKENDS, withClient } = require('../../tools/harness/db.cjs')

module.exports = { ADMIN_URL, freshPostgres, freshSqlite, BACKENDS, withClient }
