// The rotation drill's command line (see tools/drills/rotation.mjs): parsed once, checked, exported.
export const args = process.argv.slice(2)

function option(name, fallback) {
  const i = args.indexOf(name)
  if (i < 0) return fallback
  const v = args[i + 1]
  if (v === undefined || v.startsWith('--')) usage(`${name} needs a value`)
  return v
}
export function usage(message) {
  process.stderr.write(`rotation-drill: ${message}\n`)
  process.exit(2)
}
const KNOWN = new Set(['--backend', '--keys', '--short', '--rotator', '--scenario', '--workers', '--in-flight', '--batch-size', '--worker-nice', '--budgets', '--no-key-cache', '--keep'])
for (let i = 0; i < args.length; i++) {
  if (!args[i].startsWith('--')) continue
  if (!KNOWN.has(args[i])) usage(`unknown option ${args[i]}`)
}
export const SHORT = args.includes('--short')
export const BACKEND = option('--backend', 'both')
if (!['pg', 'sqlite', 'both'].includes(BACKEND)) usage('--backend is pg or sqlite')
const KEYS_GIVEN = option('--keys', null)
export const KEYS = {
  pg: KEYS_GIVEN !== null ? Number(KEYS_GIVEN) : SHORT ? 300 : 10000,
  sqlite: KEYS_GIVEN !== null ? Number(KEYS_GIVEN) : SHORT ? 200 : 1000,
}
if (!(KEYS.pg >= 4 && KEYS.sqlite >= 4) || !Number.isInteger(KEYS.pg)) usage('--keys must be an integer >= 4')
export const ROTATOR_WANTED = option('--rotator', 'auto')
if (!['auto', 'cli', 'lib'].includes(ROTATOR_WANTED)) usage('--rotator is auto, cli or lib')
export const SCENARIOS = { both: ['complete', 'kill'], complete: ['complete'], kill: ['kill'] }[option('--scenario', 'both')]
if (!SCENARIOS) usage('--scenario is both, complete or kill')
export const WORKERS = Number(option('--workers', 4))
export const IN_FLIGHT = Number(option('--in-flight', 8))
const BATCH_GIVEN = option('--batch-size', null)
export const batchSizeFor = (n) => (BATCH_GIVEN !== null ? Number(BATCH_GIVEN) : Math.min(100, Math.max(10, Math.ceil(n / 20))))
export const WORKER_NICE = Number(option('--worker-nice', 10))
if (!Number.isInteger(WORKER_NICE) || WORKER_NICE < 0 || WORKER_NICE > 19) usage('--worker-nice is 0 to 19')
export const BUDGETS = args.includes('--budgets')
export const KEY_CACHE = !args.includes('--no-key-cache')
export const KEEP = args.includes('--keep')
export const WARMUP_MS = SHORT ? 1000 : 2000
export const AFTER_MS = 1000
