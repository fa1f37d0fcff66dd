//! The one error type of the crate, with a stable code per variant.
//!
//! Every message that reaches JavaScript is `"<CODE>: <text>"`. Where the Sequelize original had
//! a message that callers match on, the text after the prefix is the original's word for word.
//! No variant ever carries key material: messages name fields, hosts and formats only.

/// Result alias used throughout the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
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
    #[error("Use of {0} is not allowed. Use incrementUsageAndGetApiKey instead.")]
    NotAllowed(&'static str),
    #[error("Internal error: {0}")]
    Internal(String),
}

impl Error {
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
            Error::InvalidConfiguration(_) => "PSPAS_INVALID_CONFIGURATION",
            Error::Config(_) => "PSPAS_CONFIG",
            Error::DbUnavailable { .. } => "PSPAS_DB_UNAVAILABLE",
            Error::Db(_) => "PSPAS_DB_ERROR",
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

    /// True for PostgreSQL serialization failures and deadlocks, which are safe to retry.
    pub(crate) fn is_retryable_db(err: &sqlx::Error) -> bool {
        matches!(
            err.as_database_error().and_then(|e| e.code()).as_deref(),
            Some("40001") | Some("40P01")
        )
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        // sqlx's Display never includes the connection URL or password; database messages
        // only mention column values of this table, which hold ciphertext, not secrets.
        Error::Db(err.to_string())
    }
}
