//! The Convrs API as the document describes it: wire types (`wire`), error and ack codes
//! (`codes`), the HTTP client (`client`) and what comes back to it (`answer`), what a send carries for its callbacks (`callback`)
//! and the decision each answer leads to (`verdict`, which uses the client, never the reverse);
//! `scrub` removes what the client sent in secret from whatever comes back.

mod answer;
pub mod callback;
pub mod client;
pub mod codes;
mod scrub;
mod send;
mod uid;
pub mod verdict;
pub mod wire;

pub use callback::CallbackTarget;
pub use client::{CallError, Client, ClientConfig, Observe};
pub use codes::{Ack, ErrorCode};
pub use uid::{phone_of_uid, uid_of_number, uid_parts, whatsapp_uid_for};
pub use verdict::Verdict;
