#!/usr/bin/env bash
# Supply-chain checks (issue 8): cargo-deny against deny.toml, and npm audit of the runtime
# npm dependencies. Decisions: docs/supply-chain.md.
#
#   bash scripts/supply-chain.sh          (CI=true: a missing advisory database fails)
#
# 1. bans, licenses, sources: need nothing beyond crates.io (always run; a finding fails).
# 2. advisories: need the RustSec advisory database, a git repository that is not on crates.io.
#    The first of these is used:
#    - PSPAS_ADVISORY_DB=/path/to/advisory-db, a git checkout of it;
#    - PSPAS_ADVISORY_DB_SNAPSHOT=/path/to/advisory-db.tar.gz, a snapshot tarball (a shallow
#      checkout, folder advdb/), extracted into a temporary folder;
#    - the shared snapshot <repo>/../shared/supply-chain/advisory-db.tar.gz, then
#      /work/shared/supply-chain/advisory-db.tar.gz (CI runs in a clone elsewhere);
#    - a shallow clone of PSPAS_ADVISORY_DB_URL (timeout PSPAS_ADVISORY_DB_TIMEOUT s).
#    None: under CI (CI set, not false/0) the script fails; otherwise the check is skipped with
#    one line. With a database, any finding not ignored in deny.toml fails the script, and so
#    does a database older than deny.toml's maximum-db-staleness.
# 3. npm audit --omit=dev of package-lock.json (runtime dependencies only), judged by
#    scripts/npm-audit.mjs against scripts/npm-audit-accepted.txt.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$(pwd -P)"

is_ci() { [[ -n "${CI:-}" && "${CI}" != "false" && "${CI}" != "0" ]]; }

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
root="$tmp/dbs"  # db-path for cargo-deny: holds $DB_DIR_NAME and cargo-deny's db.lock
mkdir -p "$root"
db_dir="$root/$DB_DIR_NAME"

# Extracts a snapshot tarball and prepares it for cargo-deny. The checkout is found as the
# folder holding crates/ and .git (advdb/ in the snapshots so far).
use_snapshot() {
    local tarball="$1" checkout epoch
    mkdir -p "$tmp/snapshot"
    if ! tar -xzf "$tarball" -C "$tmp/snapshot"; then
        echo "advisories: FAILED: cannot extract the snapshot $tarball" >&2
        exit 1
    fi
    checkout="$(find "$tmp/snapshot" -maxdepth 3 -type d -name crates -exec test -e '{}/../.git' ';' -print -quit)"
    if [[ -z "$checkout" ]]; then
        echo "advisories: FAILED: the snapshot $tarball holds no advisory-db git checkout (crates/ and .git)" >&2
        exit 1
    fi
    mv "$(dirname "$checkout")" "$db_dir"
    # cargo-deny --offline judges a database's age by .git/FETCH_HEAD's mtime, else by the newer
    # of the HEAD commit date and .git/HEAD's mtime. The tarball's mtimes say when it was packed
    # (or, with some tar options, extracted), not how current its advisories are: date the
    # checkout by its HEAD commit, so that maximum-db-staleness in deny.toml applies to that.
    epoch="$(git -C "$db_dir" log -1 --format=%ct)"
    rm -f "$db_dir/.git/FETCH_HEAD"
    touch -d "@$epoch" "$db_dir/.git/HEAD"
    db="snapshot $tarball"
}

db=""
if [[ -n "${PSPAS_ADVISORY_DB:-}" ]]; then
    if [[ ! -d "$PSPAS_ADVISORY_DB/crates" || ! -e "$PSPAS_ADVISORY_DB/.git" ]]; then
        echo "advisories: FAILED: PSPAS_ADVISORY_DB=$PSPAS_ADVISORY_DB is not a git checkout of advisory-db (no crates/ or .git)" >&2
        exit 1
    fi
    db="checkout $(cd "$PSPAS_ADVISORY_DB" && pwd -P)"
    ln -s "${db#checkout }" "$db_dir"
elif [[ -n "${PSPAS_ADVISORY_DB_SNAPSHOT:-}" ]]; then
    if [[ ! -f "$PSPAS_ADVISORY_DB_SNAPSHOT" ]]; then
        echo "advisories: FAILED: PSPAS_ADVISORY_DB_SNAPSHOT=$PSPAS_ADVISORY_DB_SNAPSHOT is not a file" >&2
        exit 1
    fi
    use_snapshot "$PSPAS_ADVISORY_DB_SNAPSHOT"
else
    for tarball in "$repo/../shared/supply-chain/advisory-db.tar.gz" /work/shared/supply-chain/advisory-db.tar.gz; do
        if [[ -f "$tarball" ]]; then
            use_snapshot "$(cd "$(dirname "$tarball")" && pwd -P)/$(basename "$tarball")"
            break
        fi
    done
    if [[ -z "$db" ]] && GIT_TERMINAL_PROMPT=0 timeout "$CLONE_TIMEOUT" \
            git clone --quiet --depth 1 "$ADVISORY_DB_URL" "$db_dir" >/dev/null 2>&1; then
        db="fresh clone of $ADVISORY_DB_URL"
    fi
fi

if [[ -z "$db" ]]; then
    if is_ci; then
        echo "advisories: FAILED: no advisory database under CI (no PSPAS_ADVISORY_DB, PSPAS_ADVISORY_DB_SNAPSHOT, shared/supply-chain/advisory-db.tar.gz, and no clone of $ADVISORY_DB_URL)" >&2
        exit 1
    fi
    echo "advisories: skipped (no advisory database: set PSPAS_ADVISORY_DB=/path/to/advisory-db or PSPAS_ADVISORY_DB_SNAPSHOT=/path/to/advisory-db.tar.gz)"
else
    read -r commit commit_date commit_epoch < <(git -C "$db_dir" log -1 --format='%H %cs %ct')
    staleness="$(sed -n 's/^maximum-db-staleness *= *"\([^"]*\)".*/\1/p' deny.toml)"
    echo "advisories: database $db: commit ${commit:0:12} of $commit_date ($(( ($(date +%s) - commit_epoch) / 86400 )) days old; deny.toml maximum-db-staleness ${staleness:-P90D (default)})"
    # --offline: open the database under db-path without fetching it (and resolve crates from the
    # local registry cache, already filled by the run above). -L info prints every advisory that
    # matches Cargo.lock, the ignored ones too (note[vulnerability], note[advisory-ignored]), so
    # the log shows what each ignore in deny.toml still covers.
    if ! PSPAS_ADVISORY_DB_ROOT="$root" cargo deny -L info --offline --locked check --show-stats --hide-inclusion-graph advisories; then
        echo "advisories: FAILED (a new advisory, an ignore that no longer matches, or a database older than maximum-db-staleness; see docs/supply-chain.md)" >&2
        exit 1
    fi
fi

# npm: the packages the published addon installs (package.json "dependencies", from
# package-lock.json). Development tools are not shipped and not audited here.
set +e
npm audit --omit=dev --package-lock-only --json >"$tmp/npm-audit.json" 2>"$tmp/npm-audit.err"
set -e
node scripts/npm-audit.mjs "$tmp/npm-audit.json" scripts/npm-audit-accepted.txt
