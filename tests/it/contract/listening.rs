//! What recipients write, on both engines: kept once per mid, attributed to the campaign last
//! sent to them, the later of a STOP and a START wins, an opt-in lifts only what a keyword or
//! onUserDisable set; the keyword lists; the conversations due to be read.

use campaign::queue::{
    Acted, Confirmed, Effect, HearRules, Heard, InboundMessage, InboundSource, KeywordKind,
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
    // The recipient's story, by number and by uid: the message, all it wrote, the suppression.
    for who in [PHONE, UID] {
        let story = store.lookup(who).await.unwrap();
        assert_eq!(story.messages.len(), 1, "{who}");
        assert_eq!(story.messages[0].state, campaign::queue::MessageState::Sent);
        assert_eq!(story.replies.len(), 8, "{who}");
        assert_eq!(story.replies[0].campaign, None, "the one before the send");
    }
    let suppression = store.lookup(PHONE).await.unwrap().suppression.unwrap();
    assert_eq!(suppression.source, "keyword");
    assert!(
        store
            .lookup("+447911999999")
            .await
            .unwrap()
            .messages
            .is_empty()
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
    assert_eq!(store.confirmations(id).await.unwrap(), [("sent".into(), 1)]);
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
