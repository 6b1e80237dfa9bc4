//! Delivery tracking: the webhook receiver (callbacks and Convrs events, read by `heard`) and
//! the poller, both feeding the store's forward-only ack state machine.

pub mod heard;
pub mod poller;
pub mod serve;
pub mod webhook;

pub use poller::{PollSchedule, Polling, await_delivery};
pub use serve::ReceiverLimits;
pub use webhook::{CallbackTarget, SECRET_HEADER, webhook_secret};
