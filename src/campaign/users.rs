//! The Convrs users source: every user of a bot (GetUsers), as rows with the user object's
//! fields as columns.
//!
//! GetUsers answers "up to 5000 users maximum" and filters by `CreatedDate` ("created after
//! this date"). The document says neither in what order a capped answer comes nor whether
//! "after" includes the date itself, so we assume the least: a full page (5,000) is followed by
//! another asked from one second before the newest `created` of the page (so users created in
//! the same second as the page's last are asked for again, whichever way "after" reads; a uid
//! seen before is dropped), until a page is short. A full page that is not oldest first, or
//! that brings no user not seen before (more than 5,000 created within a second), or whose
//! users have no creation time, cannot be paged past without missing users: the source stops
//! and says so rather than load part of the users as if it were all of them.

use std::collections::HashSet;

use chrono::{DateTime, TimeDelta, Utc};

use super::LoadError;
use super::definition::{Definition, Source};
use super::source::{Row, SourceError};
use super::validate::Record;
use crate::convrs::Client;
use crate::convrs::wire::{GetUsers, User};
use crate::queue::{BatchState, Reject, Store};
use crate::schedule::Schedule;

/// The most users one GetUsers answer holds.
pub const PAGE: usize = 5000;

const COLUMNS: [&str; 8] = [
    "uid",
    "name",
    "first_name",
    "last_name",
    "email",
    "phone",
    "lang",
    "created",
];

/// Every user of `bot_id` created after `created_after` (ISO 8601), paged past the API's
/// 5,000. A user without a phone is a reject saying so.
pub async fn users_rows(
    client: &Client,
    bot_id: i64,
    created_after: Option<String>,
) -> Result<(Vec<String>, Vec<Row>), SourceError> {
    let mut pages = Pages::new(created_after);
    while let Some(filter) = pages.next_request(bot_id) {
        let page = client
            .get_users(&filter)
            .await
            .map_err(|e| SourceError::Users(e.to_string()))?;
        pages.take(page).map_err(SourceError::Users)?;
    }
    let columns = COLUMNS.map(str::to_string).to_vec();
    let rows = pages
        .users
        .into_iter()
        .enumerate()
        .map(|(i, u)| row(i as u64 + 2, u))
        .collect();
    Ok((columns, rows))
}

fn row(line: u64, u: User) -> Row {
    let no_phone = u.phone.trim().is_empty();
    let reason = format!(
        "Convrs user {} has no phone number (GetUsers gives it empty): nothing to send to",
        u.uid
    );
    let values = vec![
        u.uid,
        u.name,
        u.first_name,
        u.last_name,
        u.email,
        u.phone,
        u.lang,
        u.created,
    ];
    if no_phone {
        let reject = Reject {
            line,
            field: "phone".into(),
            reason,
        };
        Row::Unreadable(reject, values)
    } else {
        Row::Record(Record { line, values })
    }
}

/// The paging: what to ask next, and the users so far (each uid once, in the order heard).
#[derive(Debug)]
struct Pages {
    cursor: Option<String>,
    done: bool,
    seen: HashSet<String>,
    users: Vec<User>,
}

impl Pages {
    fn new(created_after: Option<String>) -> Self {
        Pages {
            cursor: created_after,
            done: false,
            seen: HashSet::new(),
            users: vec![],
        }
    }

    fn next_request(&self, bot_id: i64) -> Option<GetUsers> {
        (!self.done).then(|| GetUsers {
            bot_id: Some(bot_id),
            created_date: self.cursor.clone(),
        })
    }

    /// Takes one answer; an error when the users after it cannot be asked for.
    fn take(&mut self, page: Vec<User>) -> Result<(), String> {
        let full = page.len() >= PAGE;
        let created: Vec<Option<DateTime<Utc>>> = page
            .iter()
            .map(|u| crate::clock::parse_iso(&u.created))
            .collect();
        let count = page.len();
        let mut new = 0;
        for user in page {
            if self.seen.insert(user.uid.clone()) {
                self.users.push(user);
                new += 1;
            }
        }
        if !full {
            self.done = true;
            return Ok(());
        }
        let after = self.cursor.as_deref().unwrap_or("the start");
        let stop = |why: String| {
            Err(format!(
                "GetUsers answered {count} users, its most, created after {after}, and {why}; \
                 the users after them cannot be asked for without missing some. Narrow the \
                 source with created_after (convrs_users = {{ bot_id = ..., created_after = \
                 \"2024-01-01\" }}) and load the rest as another campaign"
            ))
        };
        let Some(times) = created.into_iter().collect::<Option<Vec<_>>>() else {
            return stop("some have no creation time".into());
        };
        if times.windows(2).any(|w| w[0] > w[1]) {
            return stop("they are not oldest first".into());
        }
        if new == 0 {
            return stop("all of them were in the answer before (more than 5,000 users created within one second)".into());
        }
        let newest = times.last().copied().unwrap_or_default();
        self.cursor = Some(
            (newest - TimeDelta::seconds(1))
                .format("%Y-%m-%dT%H:%M:%S")
                .to_string(),
        );
        Ok(())
    }
}

/// The `created_after` that means "since the campaign's last run" (a welcome campaign).
pub const SINCE_LAST_RUN: &str = "since_last_run";

/// With `created_after = "since_last_run"`, the time it stands for (ISO 8601, UTC): the
/// slot of the campaign's last run before `batch` that fired (a skipped run fetched nobody),
/// else the schedule's run before this one. A run's users are fetched after its slot, so the
/// next run, counting from that slot, asks again for those created between the slot and the
/// fetch: the batch's dedupe keeps them from being queued twice, and nobody falls between.
/// `None` when the source says no such thing. The campaign's settings keep the words.
pub async fn since_last_run(
    store: &Store,
    def: &Definition,
    batch: Option<i64>,
) -> Result<Option<String>, LoadError> {
    let Source::ConvrsUsers {
        created_after: Some(after),
        ..
    } = &def.source
    else {
        return Ok(None);
    };
    if after != SINCE_LAST_RUN {
        return Ok(None);
    }
    let fail = |why: &str| {
        LoadError::from(SourceError::Users(format!(
            "created_after = \"{SINCE_LAST_RUN}\" counts from the campaign's last scheduled run, {why}"
        )))
    };
    let batches = match store.latest_campaign_named(&def.name).await? {
        Some((id, _)) => store.batches(id).await?,
        None => vec![],
    };
    let this = batch.and_then(|b| batches.iter().find(|r| r.id == b));
    let before = this.map_or(i64::MAX, |b| b.slot);
    let last = batches
        .iter()
        .filter(|b| b.slot < before && b.state != BatchState::Skipped)
        .map(|b| b.slot)
        .max();
    let since = match (last, &def.timing.schedule) {
        (Some(slot), _) => slot,
        (None, Some(spec)) => {
            let schedule = Schedule::parse(&spec.cron, &spec.timezone).map_err(|e| fail(&e))?;
            let from = this.map_or_else(crate::clock::now_ms, |b| b.slot);
            schedule
                .latest_at(from - 1)
                .ok_or_else(|| fail("and its schedule has no run before this one"))?
        }
        (None, None) => {
            return Err(fail(
                "and the campaign has no schedule: add one, or give a date (created_after = \"2024-01-01\")",
            ));
        }
    };
    let at = DateTime::<Utc>::from_timestamp_millis(since).unwrap_or_default();
    Ok(Some(at.format("%Y-%m-%dT%H:%M:%S").to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(i: usize, created: &str) -> User {
        User {
            uid: format!("3941-wa3-{i}"),
            phone: format!("+4479{i:08}"),
            created: created.into(),
            ..Default::default()
        }
    }

    /// `n` users created one a second from 2024-01-01T00:00:00Z, from the `from`th.
    fn users(from: usize, n: usize) -> Vec<User> {
        (from..from + n)
            .map(|i| {
                let t = DateTime::<Utc>::from_timestamp(1_704_067_200 + i as i64, 0).unwrap();
                user(i, &t.to_rfc3339())
            })
            .collect()
    }

    #[test]
    fn a_full_page_is_followed_from_a_second_before_its_newest_user() {
        let mut pages = Pages::new(None);
        assert_eq!(pages.next_request(1).unwrap().created_date, None);
        pages.take(users(0, PAGE)).unwrap();
        // The newest is 2024-01-01T01:23:19Z (4,999 s after midnight).
        let next = pages.next_request(1).unwrap();
        assert_eq!(next.created_date.as_deref(), Some("2024-01-01T01:23:18"));
        // The API counts "after" inclusively or not: the overlap is dropped by uid.
        pages.take(users(PAGE - 2, 10)).unwrap();
        assert!(pages.next_request(1).is_none());
        assert_eq!(pages.users.len(), PAGE + 8);
    }

    #[test]
    fn a_full_page_not_oldest_first_stops_the_source() {
        let mut page = users(0, PAGE);
        page.reverse();
        let err = Pages::new(None).take(page).unwrap_err();
        assert!(
            err.contains("not oldest first") && err.contains("created_after"),
            "{err}"
        );
    }

    #[test]
    fn a_full_page_of_users_seen_before_stops_the_source() {
        let mut pages = Pages::new(None);
        pages.take(users(0, PAGE)).unwrap();
        let err = pages.take(users(0, PAGE)).unwrap_err();
        assert!(err.contains("within one second"), "{err}");
    }

    #[test]
    fn a_user_without_a_phone_is_a_reject_naming_the_user() {
        let mut u = user(7, "2024-01-01T00:00:00Z");
        u.phone = " ".into();
        let Row::Unreadable(reject, _) = row(9, u) else {
            panic!("a user without a phone is not a record");
        };
        assert_eq!((reject.line, reject.field.as_str()), (9, "phone"));
        assert!(
            reject.reason.contains("3941-wa3-7 has no phone number"),
            "{}",
            reject.reason
        );
    }
}
