//! Statement templates, for both backends: a statement file of `sql/<backend>/` with shared
//! parts spliced in at `/*:name*/` markers and a call's filter clause (see
//! [`super::filter_sql`]) where `/*:filter*/` stands. Each render is made once per filter
//! shape and then held by its template: the hot path neither re-renders nor allocates its SQL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A shared part: its marker (`/*:name*/`) and its text.
pub(crate) type Part = (&'static str, &'static str);

/// One statement file and the shared parts it may name, with its renders so far.
pub(crate) struct Template {
    sql: &'static str,
    parts: &'static [Part],
    /// Renders by filter clause. Bounded: the filter shapes `filter_sql` produces (three
    /// states for each of three filters).
    rendered: Mutex<Option<HashMap<String, Arc<str>>>>,
}

impl Template {
    pub(crate) const fn new(sql: &'static str, parts: &'static [Part]) -> Template {
        Template {
            sql,
            parts,
            rendered: Mutex::new(None),
        }
    }

    /// The statement with its shared parts and the filter clause `filter` spliced in.
    pub(crate) fn render(&self, filter: &str) -> String {
        let mut sql = self.sql.to_owned();
        for (marker, part) in self.parts {
            sql = sql.replace(marker, part);
        }
        sql.replace("/*:filter*/", filter)
    }

    /// As [`Template::render`], rendered once per filter clause and then shared.
    pub(crate) fn get(&self, filter: &str) -> Arc<str> {
        let mut rendered = self.rendered.lock().unwrap_or_else(|p| p.into_inner());
        let rendered = rendered.get_or_insert_with(HashMap::new);
        if let Some(sql) = rendered.get(filter) {
            return sql.clone();
        }
        let sql: Arc<str> = self.render(filter).into();
        rendered.insert(filter.to_owned(), sql.clone());
        sql
    }
}
