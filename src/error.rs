//! The one error type of the crate, with a stable code per variant.
//!
//! Every message that reaches JavaScript is `"<CODE>: <text>"`. Where the Sequelize original had
//! a message that callers match on, the text after the prefix is the original's word for word.
//! No variant ever carries key material: messages name fields, hosts and formats only.

/// Result alias used throughout the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("RSA_API_ENCRYPTION_PUBLIC_KEY is not set in the environment variables")]
    MissingPublicKey,
    #[error("RSA_API_ENCRYPTION_PRIVATE_KEY is not set in the environment variables")]
    MissingPrivateKey,
    /// The PEM text could not be parsed; the string names the variable, never its value.
    #[error("{0}")]
    InvalidRsaKey(String),
    #[error("Invalid encrypted key format")]
    InvalidFormat,
    #[error("API key must be a non-empty string")]
    EmptyApiKey,
    /// Wrong private key, tampered or foreign ciphertext. Deliberately one message for all
    /// causes so that the error is no oracle.
    #[error("Failed to decrypt API key: wrong RSA private key or tampered ciphertext")]
    DecryptFailed,
    #[error("{0}")]
    InvalidArgument(String),
    /// An amount beyond the documented cap ([`crate::model::MAX_AMOUNT`]).
    #[error("{0}")]
    InvalidAmount(String),
    #[error("Invalid configuration: {0}")]
    InvalidConfiguration(String),
    /// Bad set-up: `configure()` options or environment values.
    #[error("{0}")]
    Config(String),
    /// `target` is `host:port/database` or a file path; never a password.
    #[error("Cannot connect to the database at {target}: {reason}")]
    DbUnavailable { target: String, reason: String },
    #[error("Database error: {0}")]
    Db(String),
    /// The connection broke while a write was in flight: it may or may not have been applied
    /// (for an increment: the call may have counted). Never retried automatically.
    #[error("The database connection was lost while the statement was in flight; it may or may not have been applied (an incrementUsageAndGetApiKey call made with a requestId is safe to retry with the same requestId: it counts once): {0}")]
    DbOutcomeUnknown(String),
    /// A `requestId` repeated with another amount or filter than its first call: an
    /// increment's (`incrementAmount`, nothing counted) or a reserve's (`estimate`, nothing
    /// held).
    #[error("requestId was already used in this group with a different {amount} or filter; nothing was {outcome}")]
    IdempotencyConflict {
        amount: &'static str,
        outcome: &'static str,
    },
    /// A settle whose key's counters cannot be read (a hand edit of the row): nothing is
    /// charged and the reservation stays as it was, to be settled again once the row is mended.
    #[error("the usage counters of key {0} cannot be read (see getBudgetStatus(id).unreadable); nothing was charged: mend the row, then settle again")]
    UnreadableUsage(i64),
    /// `settleUsage` with a reservation id this store never issued (or whose record was pruned
    /// after the request retention window).
    #[error("no reservation with this reservationId (never issued by this store, or pruned after the request retention window); nothing was charged")]
    ReservationNotFound,
    /// `addPreEncryptedKey` of a sealed pair whose ciphertext or wrapped data key is already
    /// stored (in any group): a copied pair would serve one group's key to another.
    #[error("this encrypted API key or its encrypted AES key is already stored (a sealed key can be stored once, in one group: seal the API key again for another group); nothing was written")]
    DuplicateKey,
    /// A group-bound key opened without its group (the static `decryptApiKey`).
    #[error("this key is bound to its group and opens only through that group's calls (incrementUsageAndGetApiKey, reserveUsageAndGetApiKey)")]
    GroupBound,
    /// An unbound key met with `groupBinding` `required`: refused, nothing counted or written.
    #[error("this key is not bound to its group and groupBinding is 'required': bind the stored keys with `ps-access-store bind` (or PsPrivateAccessStore.bindKeys()); nothing was counted or written")]
    UnboundKey,
    /// An input beyond its documented bound (see [`crate::model::bounds`]): refused before any
    /// work on it, nothing written.
    #[error("{what} is too large: at most {max} {unit}")]
    TooLarge {
        what: &'static str,
        max: usize,
        unit: &'static str,
    },
    #[error("Use of {0} is not allowed. Use incrementUsageAndGetApiKey instead.")]
    NotAllowed(&'static str),
    #[error("Internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A repeated increment's `requestId` asked for another amount or filter.
    pub const INCREMENT_CONFLICT: Error = Error::IdempotencyConflict {
        amount: "incrementAmount",
        outcome: "counted",
    };
    /// A repeated reserve's `requestId` asked for another estimate or filter.
    pub const RESERVE_CONFLICT: Error = Error::IdempotencyConflict {
        amount: "estimate",
        outcome: "held",
    };

    /// Stable machine-readable code; part of the public API.
    pub fn code(&self) -> &'static str {
        match self {
            Error::MissingPublicKey => "PSPAS_MISSING_PUBLIC_KEY",
            Error::MissingPrivateKey => "PSPAS_MISSING_PRIVATE_KEY",
            Error::InvalidRsaKey(_) => "PSPAS_INVALID_RSA_KEY",
            Error::InvalidFormat => "PSPAS_INVALID_FORMAT",
            Error::EmptyApiKey => "PSPAS_EMPTY_API_KEY",
            Error::DecryptFailed => "PSPAS_DECRYPT_FAILED",
            Error::InvalidArgument(_) => "PSPAS_INVALID_ARGUMENT",
            Error::TooLarge { .. } => "PSPAS_TOO_LARGE",
            Error::DuplicateKey => "PSPAS_DUPLICATE_KEY",
            Error::GroupBound => "PSPAS_GROUP_BOUND",
            Error::UnboundKey => "PSPAS_UNBOUND_KEY",
            Error::InvalidAmount(_) => "PSPAS_INVALID_AMOUNT",
            Error::InvalidConfiguration(_) => "PSPAS_INVALID_CONFIGURATION",
            Error::Config(_) => "PSPAS_CONFIG",
            Error::DbUnavailable { .. } => "PSPAS_DB_UNAVAILABLE",
            Error::Db(_) => "PSPAS_DB_ERROR",
            Error::DbOutcomeUnknown(_) => "PSPAS_DB_OUTCOME_UNKNOWN",
            Error::IdempotencyConflict { .. } => "PSPAS_IDEMPOTENCY_CONFLICT",
            Error::ReservationNotFound => "PSPAS_RESERVATION_NOT_FOUND",
            Error::UnreadableUsage(_) => "PSPAS_UNREADABLE_USAGE",
            Error::NotAllowed(_) => "PSPAS_NOT_ALLOWED",
            Error::Internal(_) => "PSPAS_INTERNAL",
        }
    }

    /// `"<CODE>: <message>"`, the form JavaScript sees.
    pub fn coded_message(&self) -> String {
        format!("{}: {}", self.code(), self)
    }

    pub(crate) fn invalid_argument(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }
}

/// What a transaction-mode connection pooler does to named prepared statements, and the remedy.
const POOLER_HINT: &str = "the server connection changed between statements, as behind a \
connection pooler in transaction mode (PgBouncer, Supabase, Neon); add ?pgbouncer=true to the \
database URL, or set PSPAS_PGBOUNCER=true or configure({ pgbouncer: true })";

/// A database failure as text: the server's own message and SQLSTATE (without its source
/// position), or the driver's description (never a URL or password); with the remedy when a
/// pooler lost our statement.
pub(crate) fn describe_db(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let message = db.message();
            let statement_lost = matches!(code.as_str(), "42P05" | "26000")
                && message.contains("prepared statement")
                || message.contains("bind message supplies");
            if statement_lost {
                format!("{message} (SQLSTATE {code}): {POOLER_HINT}")
            } else {
                format!("{message} (SQLSTATE {code})")
            }
        }
        _ => err.to_string(),
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        // sqlx's Display never includes the connection URL or password; database messages
        // only mention column values of this table, which hold ciphertext, not secrets.
        Error::Db(describe_db(&err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_keys_keep_the_original_sentences() {
        assert_eq!(
            Error::MissingPublicKey.to_string(),
            "RSA_API_ENCRYPTION_PUBLIC_KEY is not set in the environment variables"
        );
        assert_eq!(
            Error::MissingPrivateKey.to_string(),
            "RSA_API_ENCRYPTION_PRIVATE_KEY is not set in the environment variables"
        );
        assert_eq!(
            Error::NotAllowed("findAll").to_string(),
            "Use of findAll is not allowed. Use incrementUsageAndGetApiKey instead."
        );
    }
}
