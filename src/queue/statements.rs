//! The texts of the store's statements whose plans matter (`tests/it/contract/plans.rs` reads
//! each engine's plan of them): the very text the store runs, so a change to one is checked
//! as it is, not as a copy of it was. Each takes its arguments as `$1`, `$2`, ...

/// `Store::due`: a campaign's (`$1`) queued messages due at `$2`, at most `$3`.
pub fn due() -> &'static str {
    super::messages::DUE
}

/// `Store::sendable_campaigns`: on token `$1`, due before `$2`.
pub fn sendable_campaigns() -> String {
    super::sending::sendable()
}

/// `Store::campaigns_to_track`: no arguments.
pub fn campaigns_to_track() -> &'static str {
    super::polls::TO_TRACK
}

/// `Store::campaigns_to_track_on`: on token `$1`.
pub fn campaigns_to_track_on() -> &'static str {
    super::polls::TO_TRACK_ON
}

/// `Store::due_polls` on SQLite, then on PostgreSQL: campaign `$1`, now `$2`, at most `$3`.
pub fn due_polls() -> [&'static str; 2] {
    [super::polls::DUE_POLLS, super::polls::DUE_POLLS_PG]
}

/// `Store::next_poll`: campaign `$1`.
pub fn next_poll() -> &'static str {
    super::polls::NEXT_POLL
}
