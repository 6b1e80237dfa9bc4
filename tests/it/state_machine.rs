//! The queue's message state machine, driven through random sequences of events (claims, every
//! answer class, acks in any order and repeated, crashes, reconciliation, the operator's
//! retries, a lost lease) against a real store, checking after every step that:
//! - a message that reached (or may have reached) the API, or has an ack of its attempt, is
//!   never claimed again unless the operator chose to send it again;
//! - the ack of an attempt never moves backwards;
//! - final states stay final (replied and cancelled for good; delivered or read never become
//!   failed; failed only leaves by the operator's `retry --failed`).

use std::sync::Arc;
use std::time::Duration;

use campaign::convrs::Ack;
use campaign::queue::{
    CampaignId, CampaignKey, Claim, HeardAck, Lease, NewMessage, Outcome, Store, StoreError,
    this_process,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Answer {
    Accepted,
    Retry,
    Unreached,
    Ambiguous,
    Rejected,
    Released,
}

#[derive(Debug, Clone)]
enum Event {
    Claim,
    /// The answer to the claim in flight, or to one a crash left behind (`stale`).
    Answer(Answer, bool),
    /// An ack for the current attempt, or for an earlier one (`earlier`).
    Ack(Ack, bool),
    Crash,
    Reconcile(bool),
    RetryFailed,
    RetryUncertain,
    LoseLease,
}

fn event() -> impl Strategy<Value = Event> {
    let answer = prop_oneof![
        Just(Answer::Accepted),
        Just(Answer::Retry),
        Just(Answer::Unreached),
        Just(Answer::Ambiguous),
        Just(Answer::Rejected),
        Just(Answer::Released),
    ];
    prop_oneof![
        3 => Just(Event::Claim),
        3 => (answer, any::<bool>()).prop_map(|(a, s)| Event::Answer(a, s)),
        4 => (proptest::sample::select(Ack::ALL.to_vec()), any::<bool>())
            .prop_map(|(a, e)| Event::Ack(a, e)),
        1 => Just(Event::Crash),
        1 => any::<bool>().prop_map(Event::Reconcile),
        1 => Just(Event::RetryFailed),
        1 => Just(Event::RetryUncertain),
        1 => Just(Event::LoseLease),
    ]
}

/// The message as stored: (state, attempt id, ack).
type Row = (String, Option<i64>, Option<i64>);

struct World {
    store: Store,
    campaign: CampaignId,
    lease: Arc<Lease>,
    in_flight: Option<Claim>,
    left_behind: Vec<Claim>,
    /// Every attempt so far, with the mid it was given (when accepted).
    attempts: Vec<(Claim, Option<String>)>,
    /// Reached, or may have reached, the API since the operator last chose to send again.
    reached: bool,
}

impl World {
    async fn new(dir: &std::path::Path) -> World {
        let store = Store::open(dir.join("m.db").to_str().unwrap())
            .await
            .unwrap();
        let key = CampaignKey {
            name: "p",
            fingerprint: "f",
            channel: "sms",
            bot_id: 1,
            definition: "{}",
        };
        let campaign = store.create_campaign(&key, false).await.unwrap();
        let message = NewMessage {
            line: 2,
            phone: "+447911000001".into(),
            dedupe_key: "k".into(),
            payload: "{}".into(),
            tz: None,
            context: None,
            expires_ms: None,
        };
        store
            .insert_messages(campaign, vec![message], None)
            .await
            .unwrap();
        let lease = Self::lease(&store, campaign, "first").await;
        World {
            store,
            campaign,
            lease,
            in_flight: None,
            left_behind: vec![],
            attempts: vec![],
            reached: false,
        }
    }

    async fn lease(store: &Store, campaign: CampaignId, who: &str) -> Arc<Lease> {
        let owner = format!("{} {who}", this_process());
        // Leases are taken over only after they expire: the next owner's clock is far ahead.
        store
            .acquire_lease(campaign, &owner, i64::MAX - 1, i64::MAX)
            .await
            .unwrap()
            .unwrap();
        let lease = store
            .take_lease(campaign, &owner, Duration::from_secs(3600))
            .await
            .unwrap()
            .unwrap();
        Arc::new(lease)
    }

    async fn row(&self) -> Row {
        sqlx::query_as("SELECT state, attempt_id, ack FROM messages")
            .fetch_one(&crate::helpers::raw(&self.store).await)
            .await
            .unwrap()
    }

    async fn apply(&mut self, event: &Event) {
        let store = &self.store;
        match event.clone() {
            Event::Claim if self.in_flight.is_none() => {
                let due = store.due(self.campaign, i64::MAX, 1).await.unwrap();
                let ids: Vec<i64> = due.iter().map(|d| d.0).collect();
                match store.claim(&self.lease, &ids).await {
                    Ok(mut claims) if !claims.is_empty() => {
                        assert!(!self.reached, "claimed again after it reached the API");
                        let claim = claims.remove(0);
                        self.attempts.push((claim.clone(), None));
                        self.in_flight = Some(claim);
                    }
                    Ok(_) => {}
                    Err(StoreError::LeaseLost(_)) => {
                        self.lease = Self::lease(store, self.campaign, "again").await;
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            Event::Claim => {}
            Event::Answer(answer, stale) => {
                let claim = if stale {
                    self.left_behind.pop()
                } else {
                    self.in_flight.take()
                };
                let Some(claim) = claim else { return };
                let mid = format!("m{}", claim.attempt_id);
                let outcome = match answer {
                    Answer::Accepted => Outcome::Sent {
                        mid: mid.clone(),
                        uid: None,
                        poll_at: 0,
                    },
                    Answer::Retry => Outcome::Retry {
                        at_ms: 0,
                        reason: "2005".into(),
                    },
                    Answer::Unreached => Outcome::Unreached {
                        at_ms: 0,
                        reason: "refused".into(),
                    },
                    Answer::Ambiguous => Outcome::Uncertain {
                        reason: "502".into(),
                    },
                    Answer::Rejected => Outcome::Failed {
                        code: Some(1006),
                        reason: "bad".into(),
                        suppress: false,
                    },
                    Answer::Released => Outcome::Released {
                        reason: "stopped".into(),
                    },
                };
                let changed = store.finish(&claim, &outcome).await.unwrap();
                assert!(
                    !(stale && changed),
                    "a crashed attempt's answer changed the message"
                );
                let accepted = self
                    .attempts
                    .iter_mut()
                    .find(|a| a.0.attempt_id == claim.attempt_id);
                if let (true, Answer::Accepted, Some(a)) = (changed, &answer, accepted) {
                    a.1 = Some(mid);
                }
            }
            Event::Ack(ack, earlier) => {
                let pick = if earlier {
                    self.attempts.first()
                } else {
                    self.attempts.last()
                };
                let Some((claim, mid)) = pick.cloned() else {
                    return;
                };
                let mid = mid.unwrap_or_else(|| format!("m{}", claim.attempt_id));
                let heard = HeardAck {
                    message_id: claim.message_id,
                    ack,
                    source: "callback",
                    at_ms: 0,
                    mid: Some(&mid),
                    attempt: Some(claim.attempt_id),
                };
                store.record_ack(&heard).await.unwrap();
            }
            Event::Crash => {
                self.left_behind.extend(self.in_flight.take());
                store.begin_sending(self.campaign, "fp").await.unwrap();
            }
            Event::Reconcile(sent) => {
                for u in store.uncertain(self.campaign).await.unwrap() {
                    let mid = format!("m{}", u.attempt_id.unwrap_or(0));
                    let proof = sent.then_some((mid.as_str(), 0));
                    if store
                        .settle_uncertain(&u, proof, "reconciled")
                        .await
                        .unwrap()
                        && !sent
                    {
                        // Proven unsent: it may be claimed again.
                        self.reached = false;
                    }
                }
            }
            Event::RetryFailed => {
                if store.retry_failed(self.campaign).await.unwrap() > 0 {
                    self.reached = false;
                }
            }
            Event::RetryUncertain => {
                if store.retry_uncertain(self.campaign).await.unwrap() > 0 {
                    self.reached = false;
                }
            }
            Event::LoseLease => {
                self.lease = Self::lease(store, self.campaign, "other").await;
            }
        }
    }
}

fn check(before: &Row, after: &Row, event: &Event) {
    let (old, new) = (before.0.as_str(), after.0.as_str());
    let operator = matches!(event, Event::RetryFailed | Event::RetryUncertain);
    if old == "replied" || old == "cancelled" {
        assert_eq!(old, new, "{old} is final ({event:?})");
    }
    if matches!(old, "delivered" | "read") {
        assert_ne!(new, "failed", "{old} became failed ({event:?})");
    }
    if old == "failed" && !operator {
        assert_eq!(
            new, "failed",
            "failed left without the operator ({event:?})"
        );
    }
    let same_attempt = before.1 == after.1 && !operator;
    if same_attempt && after.2 != before.2 {
        let (from, to) = (
            before.2.and_then(Ack::from_code),
            after.2.and_then(Ack::from_code),
        );
        let forward = match (from, to) {
            (None, Some(_)) => true,
            (Some(from), Some(to)) => from.advances_to(to),
            _ => false,
        };
        assert!(
            forward,
            "ack moved from {:?} to {:?} ({event:?})",
            before.2, after.2
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn the_message_state_machine_keeps_its_invariants(events in proptest::collection::vec(event(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let mut world = World::new(dir.path()).await;
            for event in &events {
                let before = world.row().await;
                world.apply(event).await;
                let after = world.row().await;
                check(&before, &after, event);
                // Reached, or perhaps reached: only the operator (or proof it was not) frees it.
                // An ack of the current attempt proves it reached the API, whatever the state.
                let reached_now = matches!(after.0.as_str(), "sent" | "delivered" | "read" | "replied" | "uncertain")
                    || after.2.is_some();
                world.reached |= reached_now;
            }
        });
    }
}
