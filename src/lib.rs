//! `campaign`: bulk WhatsApp-template and SMS campaigns through the Convrs API.
//!
//! Data flows one way through these modules:
//!
//! - `phone`: `PhoneNumber`, a valid mobile E.164 number (parse, don't validate).
//! - `convrs`: the API: wire types, error and ack codes, the HTTP client and the `Verdict`
//!   each answer leads to.
//! - `sim`: the Convrs simulator (`campaign sim`), an axum app that follows the API document.
//! - `cli`: the command line; each subcommand is a thin shell over the modules above.

pub mod cli;
pub mod convrs;
pub mod phone;
pub mod sim;
