// Reads the JSON of `npm audit --omit=dev --package-lock-only --json` (runtime dependencies only)
// and decides. Called by scripts/supply-chain.sh; decisions in docs/supply-chain.md.
//
//   node scripts/npm-audit.mjs <audit.json> <accepted-ids file>
//
// - The audit ran: prints one summary line and one line per advisory. Exits 1 if an advisory is
//   not listed in the accepted-ids file, or if a listed id no longer matches any finding (a stale
//   acceptance is removed, like deny.toml's `unused-ignored-advisory = "deny"`).
// - The audit did not run (npm could not get an answer from the audit endpoint): prints one
//   `npm audit: NOT RUN` line. Outside CI that is all (exit 0). Under CI (CI set, not false/0) it
//   fails, except when the registry itself answered HTTP 405 to the audit request: the registry
//   access of this project's machines (developers' and CI's alike) serves GET/HEAD only, so the
//   audit can never run there. PSPAS_NPM_AUDIT_REQUIRED=1 makes that case fail too.
import { readFileSync } from "node:fs";

const [jsonPath, acceptedPath] = process.argv.slice(2);
const ci = !!process.env.CI && !["false", "0"].includes(process.env.CI);
const required = process.env.PSPAS_NPM_AUDIT_REQUIRED === "1";

// One id per line (first word); `#` starts a comment. The rest of the line is the reason.
const accepted = new Map();
for (const line of readFileSync(acceptedPath, "utf8").split("\n")) {
  const text = line.replace(/#.*/, "").trim();
  if (text) accepted.set(text.split(/\s+/)[0], text);
}

let report;
try {
  report = JSON.parse(readFileSync(jsonPath, "utf8"));
} catch (err) {
  console.log(`npm audit: FAILED (its output is not JSON: ${err.message})`);
  process.exit(1);
}

if (!report.metadata || !report.vulnerabilities) {
  const status = report.statusCode;
  const code = report.error?.code || report.code;
  const why = status
    ? `the registry answered HTTP ${status} to ${report.method || "the audit request"} ${report.uri || ""}`.trim()
    : `${code || "error"}: ${report.error?.summary || report.message || "no audit report"}`;
  const readOnlyRegistry = status === 405;
  const allow = report.headers?.allow ? ` (allow: ${[].concat(report.headers.allow).join(",")})` : "";
  if (ci && (required || !readOnlyRegistry)) {
    console.log(`npm audit: FAILED under CI: the audit did not run: ${why}${allow}`);
    process.exit(1);
  }
  const note = readOnlyRegistry
    ? "the registry is reachable but does not serve the audit endpoint here (read-only access)"
    : "audit endpoint not reachable";
  console.log(`npm audit: NOT RUN, runtime dependencies not audited: ${why}${allow}; ${note}. See docs/supply-chain.md`);
  process.exit(0);
}

const counts = report.metadata.vulnerabilities;
const deps = report.metadata.dependencies || {};
const findings = [];
for (const vuln of Object.values(report.vulnerabilities)) {
  for (const via of vuln.via) {
    // A string names another vulnerable package (the advisory is listed under that one).
    if (typeof via === "string") continue;
    const id = (via.url || "").split("/").pop() || String(via.source);
    findings.push({ pkg: via.name || vuln.name, range: via.range, id, severity: via.severity, title: via.title });
  }
}
const ids = new Set(findings.map((f) => f.id));
console.log(
  `npm audit: ${deps.prod ?? "?"} runtime packages audited (package-lock.json, --omit=dev): ` +
    `${counts.total} vulnerable (critical ${counts.critical}, high ${counts.high}, moderate ${counts.moderate}, ` +
    `low ${counts.low}, info ${counts.info}); ${ids.size} advisories, ${[...ids].filter((id) => accepted.has(id)).length} accepted`,
);
let failed = false;
for (const f of findings) {
  const ok = accepted.has(f.id);
  failed ||= !ok;
  console.log(`  ${f.id} ${f.severity} ${f.pkg} ${f.range}: ${f.title}: ${ok ? "accepted (docs/supply-chain.md)" : "NOT ACCEPTED"}`);
}
for (const id of accepted.keys()) {
  if (!ids.has(id)) {
    failed = true;
    console.log(`  ${id}: accepted in ${acceptedPath} but no longer found: remove it`);
  }
}
if (failed) {
  console.log("npm audit: FAILED (decide each finding in docs/supply-chain.md and scripts/npm-audit-accepted.txt)");
  process.exit(1);
}
