//! The one integration-test binary: everything runs over real HTTP on loopback against the
//! simulator, with real databases.

mod helpers;

mod acks_by_attempt;
mod browser;
mod channels;
mod cli_sim;
mod client_verdicts;
mod context;
mod contract;
mod control;
mod identity;
mod late_acks;
mod listening;
mod loading;
mod operator;
mod pg_schema;
mod receiver;
mod report;
mod resilience;
mod running;
mod scale;
mod schedules;
mod second_hour;
mod send_path;
mod sim_api;
mod socket;
mod state_machine;
mod templates;
mod text_channel;
mod timing;
mod tracking;
mod worker;
mod worker_ops;
