//! `benches/increment-pg.sql` is the package's own PostgreSQL increment statement (filter on
//! `aiModelId`), which the benchmark's database-limit loop issues through `pg`. This test keeps
//! the file from drifting; `UPDATE_BENCH_SQL=1 cargo test --test bench_sql` rewrites it.

use policysynth_private_access_store::model::{IdFilter, KeyFilter};
use policysynth_private_access_store::store::pg::increment_statement;

#[test]
fn benchmark_issues_the_packages_statement() {
    let sql = increment_statement(&KeyFilter {
        ai_model_id: IdFilter::Eq(1),
        ..KeyFilter::default()
    }) + "\n";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/increment-pg.sql");
    if std::env::var_os("UPDATE_BENCH_SQL").is_some() {
        std::fs::write(path, &sql).expect("write");
    }
    let committed = std::fs::read_to_string(path).expect("benches/increment-pg.sql exists");
    assert_eq!(
        committed, sql,
        "run UPDATE_BENCH_SQL=1 cargo test --test bench_sql and commit"
    );
}
