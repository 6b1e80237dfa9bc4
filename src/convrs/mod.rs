//! The Convrs API as the document describes it: wire types (`wire`), error and ack codes
//! (`codes`), the HTTP client (`client`) and the decision each answer leads to (`verdict`).

pub mod client;
pub mod codes;
pub mod verdict;
pub mod wire;

pub use client::{CallError, Client, ClientConfig};
pub use codes::{Ack, ErrorCode};
pub use verdict::Verdict;
