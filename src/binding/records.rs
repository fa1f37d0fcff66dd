//! What crosses back to JavaScript, as JSON text: the JS layer parses it in the caller's realm
//! (so its objects, and the `Date`s it builds from the epoch milliseconds here, are the
//! caller's) and wraps records in the exported class. Never a plaintext key.
//!
//! The shapes are the core types' own serde forms, declared once where the types are:
//! [`crate::model::KeyRecord`] (the documented snake_case attributes), [`crate::model::Usage`],
//! [`crate::budget::BudgetStatus`] and [`crate::budget::BudgetEvent`].

use serde::Serialize;

use crate::budget::BudgetEvent;

/// `value` as JSON text.
pub fn json<T: Serialize + ?Sized>(value: &T) -> String {
    // Serializing these plain structs cannot fail (string keys, numbers or null).
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// The events of one call, or `None` when there are none (the common case costs nothing).
pub fn events(es: &[BudgetEvent]) -> Option<String> {
    (!es.is_empty()).then(|| json(es))
}
