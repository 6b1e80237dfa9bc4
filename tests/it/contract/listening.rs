//! What recipients write, on both engines: kept once per mid, attributed to the campaign last
//! sent to them, the later of a STOP and a START wins, an opt-in lifts only what a keyword or
//! onUserDisable set; the keyword lists; the conversations due to be read.

use campaign::queue::{
    Acted, Confirmed, DueRead, Effect, HearRules, Heard, InboundMessage, InboundSource, KeywordKind,
};

use super::*;

const UID: &str = "3941-cms-447911000000";
const PHONE: &str = "+447911000000";

fn said<'a>(mid: &'a str, text: &'a str, dt_ms: i64, verdict: Heard) -> InboundMessage<'a> {
    InboundMessage {
        mid,
        uid: UID,
        phone: Some(PHONE),
        text,
        dt_ms,
        source: InboundSource::Event,
        verdict,
    }
}

async fn suppressed(store: &Store) -> Vec<(String, String)> {
    let list = store.suppressions().await.unwrap();
    list.into_iter().map(|s| (s.phone, s.source)).collect()
}

contract!(
    what_recipients_write_is_kept_once_and_the_later_keyword_wins,
    hearing
);
async fn hearing(scene: Scene) {
    let store = &scene.store;
    let id = queued(&scene, 1).await;
    let (_lease, claims) = claim_due(store, id).await;
    let sent_with_uid = Outcome::Sent {
        mid: "m-0".into(),
        uid: Some(UID.into()),
        poll_at: i64::MAX,
    };
    store.finish(&claims[0], &sent_with_uid).await.unwrap();
    let after = store.now_ms() + 1_000;
    let (out, inn) = (Effect::Suppress, Effect::Lift);
    let stop = said("c-1", "Stop.", after, Heard::OptOut);
    assert_eq!(
        store
            .hear_inbound(&stop, out, &HearRules::default())
            .await
            .unwrap(),
        Acted::Suppressed(true)
    );
    assert_eq!(suppressed(store).await, [(PHONE.into(), "keyword".into())]);
    assert_eq!(
        store
            .hear_inbound(&stop, out, &HearRules::default())
            .await
            .unwrap(),
        Acted::Replayed,
        "a replay changes nothing"
    );
    // A START sent before the STOP, heard after it: the STOP is later, and stands.
    let early_start = said("c-0", "START", after - 500, Heard::OptIn);
    assert_eq!(
        store
            .hear_inbound(&early_start, inn, &HearRules::default())
            .await
            .unwrap(),
        Acted::Superseded
    );
    assert_eq!(suppressed(store).await.len(), 1);
    let start = said("c-2", "Start", after + 1_000, Heard::OptIn);
    assert_eq!(
        store
            .hear_inbound(&start, inn, &HearRules::default())
            .await
            .unwrap(),
        Acted::Lifted(true)
    );
    assert!(suppressed(store).await.is_empty());
    // A STOP older than that START, heard late, does not put the number back.
    let late_stop = said("c-1b", "STOP", after + 500, Heard::OptOut);
    assert_eq!(
        store
            .hear_inbound(&late_stop, out, &HearRules::default())
            .await
            .unwrap(),
        Acted::Superseded
    );
    assert!(suppressed(store).await.is_empty());
    // An operator's suppression survives a START; onUserEnable lifts only onUserDisable's.
    store
        .suppress(PHONE, "asked by phone", "operator")
        .await
        .unwrap();
    let again = said("c-3", "START", after + 2_000, Heard::OptIn);
    assert_eq!(
        store
            .hear_inbound(&again, inn, &HearRules::default())
            .await
            .unwrap(),
        Acted::Lifted(false)
    );
    assert!(!store.lift_disabled(PHONE).await.unwrap());
    assert_eq!(suppressed(store).await, [(PHONE.into(), "operator".into())]);
    store.unsuppress(PHONE).await.unwrap();
    store
        .suppress(PHONE, "user disabled (onUserDisable)", "onUserDisable")
        .await
        .unwrap();
    assert!(store.lift_disabled(PHONE).await.unwrap());
    // Possible opt-outs act only when the operator says so, and then count as keywords.
    let acting = HearRules {
        possible_acts: true,
        ..HearRules::default()
    };
    let possible = said("c-4", "Stop please", after + 3_000, Heard::PossibleOptOut);
    assert_eq!(
        store.hear_inbound(&possible, out, &acting).await.unwrap(),
        Acted::Suppressed(true)
    );
    let earlier_start = said("c-5", "start", after + 2_500, Heard::OptIn);
    assert_eq!(
        store
            .hear_inbound(&earlier_start, inn, &acting)
            .await
            .unwrap(),
        Acted::Superseded
    );
    let replies = store.replies(id).await.unwrap();
    let verdicts: Vec<Heard> = replies.iter().map(|r| r.verdict).collect();
    assert_eq!(
        verdicts,
        [
            Heard::OptIn,
            Heard::OptOut,
            Heard::OptOut,
            Heard::OptIn,
            Heard::OptIn,
            Heard::OptIn,
            Heard::PossibleOptOut
        ],
        "every message, once, attributed to the campaign sent before it, by time"
    );
    assert!(replies.iter().all(|r| r.recipient == PHONE));
    let before_the_send = said("c-old", "STOP", 0, Heard::OptOut);
    store
        .hear_inbound(&before_the_send, Effect::None, &HearRules::default())
        .await
        .unwrap();
    assert_eq!(
        store.replies(id).await.unwrap().len(),
        7,
        "a message sent before the campaign's is not an answer to it"
    );
}

contract!(the_keyword_lists_are_shared_in_the_database, keyword_lists);
async fn keyword_lists(scene: Scene) {
    let store = &scene.store;
    let words = store.keywords().await.unwrap();
    assert_eq!(
        words.len(),
        campaign::listening::keywords::DEFAULTS.len(),
        "the defaults are seeded"
    );
    assert!(store.set_keyword("basta", KeywordKind::Out).await.unwrap());
    assert!(!store.set_keyword("basta", KeywordKind::Out).await.unwrap());
    assert!(store.set_keyword("basta", KeywordKind::Help).await.unwrap());
    assert!(store.remove_keyword("basta").await.unwrap());
    assert!(!store.remove_keyword("basta").await.unwrap());
    store
        .set_setting(campaign::listening::POSSIBLE_SETTING, "act")
        .await
        .unwrap();
    store
        .set_setting(campaign::listening::POSSIBLE_SETTING, "record")
        .await
        .unwrap();
    assert_eq!(
        store
            .setting(campaign::listening::POSSIBLE_SETTING)
            .await
            .unwrap()
            .as_deref(),
        Some("record")
    );
}

contract!(
    conversations_due_are_read_by_one_reader_at_a_time,
    conversation_reads
);
async fn conversation_reads(scene: Scene) {
    let store = &scene.store;
    let id = queued(&scene, 1).await;
    let now = store.now_ms();
    let read = DueRead {
        uid: String::new(),
        source: InboundSource::Sweep,
        since_ms: now - 1_000,
        reads: 0,
        until_ms: now + 60_000,
    };
    store
        .want_conversation(id, UID, &read, now + 10_000)
        .await
        .unwrap();
    assert!(store.due_conversations(id, 10).await.unwrap().is_empty());
    // Asked again, earlier: the earliest due time and the widest span are kept.
    let reply = DueRead {
        source: InboundSource::Reply,
        since_ms: now - 5_000,
        until_ms: now,
        ..read.clone()
    };
    store.want_conversation(id, UID, &reply, now).await.unwrap();
    let due = store.due_conversations(id, 10).await.unwrap();
    assert_eq!(
        due,
        [DueRead {
            uid: UID.into(),
            since_ms: now - 5_000,
            ..read.clone()
        }]
    );
    assert!(
        store.due_conversations(id, 10).await.unwrap().is_empty(),
        "held from another reader"
    );
    store
        .conversation_read(id, UID, 1, Some(now))
        .await
        .unwrap();
    assert_eq!(store.due_conversations(id, 10).await.unwrap()[0].reads, 1);
    store.conversation_read(id, UID, 2, None).await.unwrap();
    store
        .conversation_read(id, UID, 3, Some(now))
        .await
        .unwrap();
    assert!(
        store.due_conversations(id, 10).await.unwrap().is_empty(),
        "read for the last time"
    );
}

contract!(
    a_socket_back_from_a_drop_reads_the_conversations_of_users_sent_to_since,
    catching_up
);
async fn catching_up(scene: Scene) {
    let store = &scene.store;
    let id = queued(&scene, 3).await;
    execute(
        &scene,
        "UPDATE campaigns SET token_fingerprint = 'fp:socket'",
    )
    .await;
    let (_lease, claims) = claim_due(store, id).await;
    let sent_to = |n: u32| Outcome::Sent {
        mid: format!("m-{n}"),
        uid: Some(format!("3941-cms-44791100000{n}")),
        poll_at: i64::MAX,
    };
    store.finish(&claims[0], &sent_to(0)).await.unwrap();
    let since = store.now_ms();
    // Sent after the drop: the 2nd; the 3rd has no uid (the answer gave none).
    execute(&scene, "UPDATE messages SET sent_at = 0 WHERE mid = 'm-0'").await;
    store.finish(&claims[1], &sent_to(1)).await.unwrap();
    store.finish(&claims[2], &sent("m-2")).await.unwrap();
    assert_eq!(store.catch_up("fp:other", 0).await.unwrap(), 0);
    assert_eq!(store.catch_up("fp:socket", since).await.unwrap(), 1);
    let due = store.due_conversations(id, 10).await.unwrap();
    assert_eq!(
        due.iter().map(|d| d.uid.as_str()).collect::<Vec<_>>(),
        ["3941-cms-447911000001"]
    );
    assert_eq!(
        (due[0].source, due[0].since_ms),
        (InboundSource::Reply, since)
    );
}

contract!(
    opt_outs_and_blocks_count_against_the_campaign_that_drew_them,
    turning_away
);
async fn turning_away(scene: Scene) {
    let store = &scene.store;
    let id = queued(&scene, 3).await;
    let (_lease, claims) = claim_due(store, id).await;
    for (n, claim) in claims.iter().enumerate() {
        let outcome = Outcome::Sent {
            mid: format!("m-{n}"),
            uid: Some(format!("3941-cms-44791100000{n}")),
            poll_at: i64::MAX,
        };
        store.finish(claim, &outcome).await.unwrap();
    }
    let stop = InboundMessage {
        dt_ms: store.now_ms() + 1_000,
        ..said("c-1", "STOP", 0, Heard::OptOut)
    };
    store
        .hear_inbound(&stop, Effect::Suppress, &HearRules::default())
        .await
        .unwrap();
    store
        .suppress_for_event(
            "+447911000001",
            "3941-cms-447911000001",
            "user disabled (onUserDisable)",
            "onUserDisable",
        )
        .await
        .unwrap();
    // An event never takes over the operator's suppression (onUserEnable would lift it).
    store
        .suppress("+447911000002", "asked by phone", "operator")
        .await
        .unwrap();
    store
        .suppress_for_event(
            "+447911000002",
            "3941-cms-447911000002",
            "user disabled (onUserDisable)",
            "onUserDisable",
        )
        .await
        .unwrap();
    assert!(
        suppressed(store)
            .await
            .contains(&("+447911000002".into(), "operator".into()))
    );
    let figures = store.quality_figures(id).await.unwrap();
    assert_eq!(
        (
            figures.turned_away,
            figures.delivered,
            figures.unsent,
            figures.sms
        ),
        (2, 0, 0, true)
    );
    assert!(
        store
            .pause_for(id, "paused by its quality check: test")
            .await
            .unwrap()
    );
    assert!(
        !store.pause_for(id, "again").await.unwrap(),
        "a paused campaign is not paused again"
    );
    assert_eq!(store.control(id).await.unwrap(), Some(Control::Paused));
    assert!(store.resume(id).await.unwrap(), "the operator resumes it");
}

/// An SMS campaign of `file` to `phones`, capped at one message per number a week.
fn capped(
    scene: &Scene,
    file: &str,
    phones: &[&str],
) -> campaign::campaign::definition::Definition {
    let phones: Vec<String> = phones.iter().map(|p| p.to_string()).collect();
    campaign::campaign::definition::CampaignFile {
        bot_id: Some(3941),
        channel: Some(campaign::campaign::definition::Channel::Sms),
        message: Some("Hi {name}".into()),
        csv: Some(recipients_csv(scene.dir.path(), file, &phones)),
        frequency_cap: Some(campaign::timing::FrequencyCapFile {
            messages: 1,
            per: "7d".into(),
        }),
        ..Default::default()
    }
    .with(Default::default())
    .unwrap()
}

contract!(
    a_frequency_cap_counts_every_campaigns_sends_and_what_is_in_flight,
    frequency_cap
);
async fn frequency_cap(scene: Scene) {
    let store = &scene.store;
    let (p, r) = ("+447911000071", "+447911000072");
    // An uncapped campaign sent P a message.
    let first = queue(
        store,
        &scene.sim,
        &sms_def(recipients_csv(scene.dir.path(), "a.csv", &[p.to_string()])),
    )
    .await
    .campaign
    .unwrap();
    let (_a, claims) = claim_due(store, first).await;
    store.finish(&claims[0], &sent("m-a")).await.unwrap();
    // A capped one: P is over the cap; R goes, and stays in flight.
    let second = queue(store, &scene.sim, &capped(&scene, "b.csv", &[p, r]))
        .await
        .campaign
        .unwrap();
    let (_b, claims) = claim_due(store, second).await;
    let phones: Vec<&str> = claims.iter().map(|c| c.phone.as_str()).collect();
    assert_eq!(phones, [r]);
    // Another capped one to R while the first message to R is in flight: over the cap too.
    let third = queue(store, &scene.sim, &capped(&scene, "c.csv", &[r]))
        .await
        .campaign
        .unwrap();
    let (_c, none) = claim_due(store, third).await;
    assert!(none.is_empty(), "R has a message in flight");
    let cancelled: Vec<(String, String)> = rows(
        store,
        &scene.db,
        "SELECT phone, error FROM messages WHERE state = 'cancelled' ORDER BY campaign_id",
    )
    .await;
    assert_eq!(cancelled.len(), 2, "{cancelled:?}");
    assert_eq!(cancelled[0].0, p);
    assert!(
        cancelled[0]
            .1
            .contains("frequency cap: this number got 1 message from the store in the last 7d"),
        "{cancelled:?}"
    );
    assert_eq!(cancelled[1].0, r);
    store.finish(&claims[0], &sent("m-b")).await.unwrap();
    // Two capped campaigns claiming the same new number at the same moment: one goes.
    let s = "+447911000073";
    let (d_def, e_def) = (capped(&scene, "d.csv", &[s]), capped(&scene, "e.csv", &[s]));
    let fourth = queue(store, &scene.sim, &d_def).await.campaign.unwrap();
    let fifth = queue(store, &scene.sim, &e_def).await.campaign.unwrap();
    let ((_d, d), (_e, e)) = tokio::join!(claim_due(store, fourth), claim_due(store, fifth));
    assert_eq!(d.len() + e.len(), 1, "one message to {s} between them");
    // A campaign without a cap of its own, sent by a worker with --frequency-cap 1/7d.
    let sixth = sms_def(recipients_csv(scene.dir.path(), "f.csv", &[p.to_string()]));
    let sixth = queue(store, &scene.sim, &sixth).await.campaign.unwrap();
    let capped_by_worker = store
        .take_lease(
            sixth,
            &campaign::queue::this_process(),
            Duration::from_secs(60),
        )
        .await
        .unwrap()
        .unwrap()
        .with_frequency_cap(Some(campaign::timing::FrequencyCap {
            messages: 1,
            per_ms: 7 * 86_400_000,
        }));
    let due = store.due(sixth, i64::MAX, 10).await.unwrap();
    let ids: Vec<i64> = due.iter().map(|d| d.0).collect();
    let claimed = store
        .claim(&std::sync::Arc::new(capped_by_worker), &ids)
        .await
        .unwrap();
    assert!(claimed.is_empty(), "the worker's cap holds P back too");
}

contract!(
    an_opt_out_that_suppresses_asks_for_one_confirmation_on_its_campaigns_token,
    confirming
);
async fn confirming(scene: Scene) {
    let store = &scene.store;
    let id = queued(&scene, 1).await;
    execute(
        &scene,
        "UPDATE campaigns SET token_fingerprint = 'fp:confirm'",
    )
    .await;
    let (_lease, claims) = claim_due(store, id).await;
    let outcome = Outcome::Sent {
        mid: "m-0".into(),
        uid: Some(UID.into()),
        poll_at: i64::MAX,
    };
    store.finish(&claims[0], &outcome).await.unwrap();
    let rules = HearRules {
        confirmation: Some("You will get no more messages from us.".into()),
        ..HearRules::default()
    };
    let at = store.now_ms() + 1_000;
    let stop = said("c-stop", "STOP", at, Heard::OptOut);
    store
        .hear_inbound(&stop, Effect::Suppress, &rules)
        .await
        .unwrap();
    let due = store.due_confirmations("fp:confirm", 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(
        (due[0].uid.as_str(), due[0].text.as_str()),
        (UID, "You will get no more messages from us.")
    );
    assert!(due[0].until_ms > at && due[0].until_ms < at + 24 * 3_600_000);
    assert!(
        store
            .due_confirmations("fp:confirm", 10)
            .await
            .unwrap()
            .is_empty(),
        "claimed: sent by one sender only"
    );
    store
        .confirmation_done(&due[0].mid, Confirmed::Sent, None)
        .await
        .unwrap();
    // A second STOP finds the number suppressed already: no second confirmation.
    let again = said("c-stop-2", "STOP", at + 1_000, Heard::OptOut);
    store
        .hear_inbound(&again, Effect::Suppress, &rules)
        .await
        .unwrap();
    assert!(
        store
            .due_confirmations("fp:confirm", 10)
            .await
            .unwrap()
            .is_empty()
    );
}
