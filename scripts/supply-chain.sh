#!/usr/bin/env bash
# Supply-chain checks (issue 8): cargo-deny against deny.toml. Decisions: docs/supply-chain.md.
#
#   bash scripts/supply-chain.sh
#
# 1. bans, licenses, sources: need nothing beyond crates.io (always run; a finding fails).
# 2. advisories: need the RustSec advisory database, a git repository that is not on crates.io.
#    - PSPAS_ADVISORY_DB=/path/to/advisory-db (a git checkout of it) is used when set;
#    - otherwise a shallow clone is tried (PSPAS_ADVISORY_DB_URL, PSPAS_ADVISORY_DB_TIMEOUT s);
#    - if neither is available the check is skipped with one line, and the script does not fail.
#    With a database, any finding not ignored in deny.toml fails the script.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

ADVISORY_DB_URL="${PSPAS_ADVISORY_DB_URL:-https://github.com/rustsec/advisory-db}"
CLONE_TIMEOUT="${PSPAS_ADVISORY_DB_TIMEOUT:-60}"
# cargo-deny opens each database at <db-path>/<last URL segment>-<xxhash64 of the lowercased
# URL>; this is the folder name for the db-urls entry in deny.toml (cargo-deny 0.20).
DB_DIR_NAME="advisory-db-3157b0e258782691"

if ! cargo deny --version >/dev/null 2>&1; then
    echo "supply-chain: installing cargo-deny (cargo install cargo-deny --locked)"
    cargo install cargo-deny --locked --version 0.20.2
fi
echo "supply-chain: $(cargo deny --version)"

# Licenses, bans (duplicates are warnings), sources (crates.io only). Resolves the graph from
# Cargo.lock (--locked: the lock file must not change).
cargo deny --locked check --hide-inclusion-graph bans licenses sources

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

db=""
if [[ -n "${PSPAS_ADVISORY_DB:-}" ]]; then
    if [[ ! -d "$PSPAS_ADVISORY_DB/crates" || ! -e "$PSPAS_ADVISORY_DB/.git" ]]; then
        echo "supply-chain: PSPAS_ADVISORY_DB=$PSPAS_ADVISORY_DB is not a git checkout of advisory-db (no crates/ or .git)" >&2
        exit 1
    fi
    db="$(cd "$PSPAS_ADVISORY_DB" && pwd -P)"
    ln -s "$db" "$tmp/$DB_DIR_NAME"
elif GIT_TERMINAL_PROMPT=0 timeout "$CLONE_TIMEOUT" \
        git clone --quiet --depth 1 "$ADVISORY_DB_URL" "$tmp/$DB_DIR_NAME" >/dev/null 2>&1; then
    db="$ADVISORY_DB_URL (fresh clone)"
fi

if [[ -z "$db" ]]; then
    echo "advisories: skipped (advisory database not reachable; set PSPAS_ADVISORY_DB=/path/to/advisory-db)"
    exit 0
fi

echo "supply-chain: advisory database $db at $(git -C "$tmp/$DB_DIR_NAME" log -1 --format='%h %cs')"
# --offline: open the database under db-path without fetching it (and resolve crates from the
# local registry cache, already filled by the run above). cargo-deny refuses a database whose
# last fetch (or HEAD commit, for a fresh clone) is older than 90 days.
PSPAS_ADVISORY_DB_ROOT="$tmp" cargo deny --offline --locked check --hide-inclusion-graph advisories
