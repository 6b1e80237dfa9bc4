//! Delivery tracking: the webhook receiver (callbacks and Convrs events, read by `heard`), the
//! API's WebSocket (events, for who cannot expose a webhook) and the poller, feeding the store's
//! forward-only ack state machine and the listening's one handler of client messages.

pub mod events;
pub mod heard;
pub mod latency;
pub mod poller;
mod schedule;
pub mod serve;
pub mod socket;
pub mod webhook;

pub use poller::{Polling, await_delivery};
pub use schedule::PollSchedule;
pub use serve::ReceiverLimits;
pub use webhook::{CallbackTarget, SECRET_HEADER, webhook_secret};
