#![deny(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]
//! `@policysynth/private-access-store`: a drop-in, Rust-backed replacement for PolicySynth's
//! Sequelize `PsPrivateAccessStore`.
//!
//! The core (crypto, configuration, storage, service) has no Node dependency and is tested by
//! `cargo test`; the `napi` feature (on by default) adds the thin binding in [`binding`].

pub mod budget;
pub mod config;
pub mod envelope;
pub mod error;
pub mod keycache;
pub mod keyring;
pub mod model;
pub mod outbox;
pub mod pg_url;
pub mod reservation;
pub mod rotation;
pub mod rsa_keys;
pub mod secret;
pub mod service;
pub mod settings;
pub mod store;

#[cfg(feature = "napi")]
mod binding;

pub use error::{Error, Result};
