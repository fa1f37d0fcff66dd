/** jest 30: specs in __test__/ load only the package's public entry (require('..')). */
module.exports = {
  testEnvironment: 'node',
  testMatch: ['<rootDir>/__test__/**/*.spec.{js,cjs,mjs}'],
  testTimeout: 120000,
  // One worker: suites share two cores with PostgreSQL and the child processes they spawn.
  maxWorkers: 1,
}
