#!/usr/bin/env bash
# A second local PostgreSQL 15 cluster, "pspas_spare" on 127.0.0.1:5434 (trust auth, role root,
# database test): a server of its own that failover.spec.cjs demotes to read-only and back (a
# read-only first host of a multi-host URL, a pooled connection to a demoted server), which
# the shared server on 5432 cannot be while other suites run on it. Made with Debian's
# pg_createcluster when missing, started when down, left writable (tools/harness/clusters.cjs,
# ensureSpare). Idempotent; needs root. Env: SPARE_PORT (5434).
set -euo pipefail
node "$(dirname "$0")/../tools/harness/clusters.cjs" spare "${SPARE_PORT:-5434}"
