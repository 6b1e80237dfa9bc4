//! Listening, over real sockets: a recipient's STOP reaches the suppression list by a webhook
//! event, by the reply read after an ack 10, and by the SMS sweep; START lifts it, never an
//! operator's suppression; a replayed event changes nothing; the keyword lists are the
//! operator's to change.

use std::time::Duration;

use campaign::engine::{self, RunOptions};
use campaign::listening::quality::QualityWatch;
use campaign::queue::{CampaignId, Heard, InboundSource, QualityPolicy, Store};
use campaign::tracking::{PollSchedule, webhook};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::helpers::{
    TestSim, campaign_cmd, queue, recipients_csv, sms_def, sms_dispatch, spawn_sim, store_in,
    wait_for, whatsapp_def,
};

pub(crate) fn uid(phone: &str, tag: &str) -> String {
    format!("3941-{tag}-{}", phone.trim_start_matches('+'))
}

/// Who is suppressed, with the source.
pub(crate) async fn suppressed(store: &Store) -> Vec<(String, String)> {
    let list = store.suppressions().await.unwrap();
    list.into_iter().map(|s| (s.phone, s.source)).collect()
}

pub(crate) async fn wait_until_suppressed(store: &Store, phone: &str) -> String {
    wait_for(&format!("{phone} to be suppressed"), || async {
        suppressed(store)
            .await
            .into_iter()
            .find(|(p, _)| p == phone)
            .map(|(_, source)| source)
    })
    .await
}

fn options(first_poll: Duration) -> RunOptions {
    RunOptions {
        wait: None,
        reconcile_after: Duration::ZERO,
        polls: PollSchedule {
            first: first_poll,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Sends a campaign to `phones` to the end (acks left to the caller).
pub(crate) async fn sent(
    sim: &TestSim,
    store: &Store,
    dir: &std::path::Path,
    phones: &[&str],
    sms: bool,
) -> CampaignId {
    let phones: Vec<String> = phones.iter().map(|p| p.to_string()).collect();
    let csv = recipients_csv(dir, "r.csv", &phones);
    let def = if sms {
        sms_def(csv)
    } else {
        whatsapp_def(csv, "order_confirmation")
    };
    let id = queue(store, sim, &def).await.campaign.unwrap();
    let mut config = sms_dispatch(10, 4, 5, Duration::from_millis(20));
    if !sms {
        config.command = "SendWhatsAppTemplate";
    }
    let opts = options(config.first_poll);
    engine::run_campaign(
        store,
        &sim.client(),
        id,
        &config,
        &opts,
        &Default::default(),
    )
    .await
    .unwrap();
    id
}

/// Polls the campaign (acks, and the conversations due) until `done`.
async fn poll_until<T, F, Fut>(
    sim: &TestSim,
    store: &Store,
    id: CampaignId,
    what: &str,
    done: F,
) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let schedule = PollSchedule {
        first: Duration::from_millis(10),
        ..Default::default()
    };
    let limiter = governor::RateLimiter::direct(governor::Quota::per_second(
        std::num::NonZeroU32::new(100).unwrap(),
    ));
    let client = sim.client();
    wait_for(what, || async {
        campaign::tracking::poller::poll_due(
            store,
            &client,
            id,
            &schedule,
            &[&limiter],
            &Default::default(),
        )
        .await
        .unwrap();
        done().await
    })
    .await
}

/// A receiver for the store, and its events URL with the secret.
async fn events_receiver(store: &Store) -> (webhook::RunningReceiver, String) {
    let (receiver, secret) = crate::tracking::start_receiver(store).await;
    let url = format!(
        "http://{}/events?secret={}",
        receiver.addr,
        secret.expose_secret()
    );
    (receiver, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_by_event_suppresses_a_start_lifts_it_and_an_operators_suppression_survives() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    let (receiver, events) = events_receiver(&store).await;
    let sim = spawn_sim(|c| c.events_url = Some(events.clone())).await;
    let [stops, maybe, operators] = ["+447911000011", "+447911000012", "+447911000013"];
    let id = sent(&sim, &store, dir.path(), &[stops, maybe, operators], false).await;
    let write = |phone: &str, text: &str| {
        sim.call(
            "SimClientMessage",
            json!({ "uid": uid(phone, "wa3"), "message": text }),
        )
    };
    let stop = write(stops, "Stop.").await;
    assert_eq!(wait_until_suppressed(&store, stops).await, "keyword");

    write(maybe, "STOP please, I meant the other order").await;
    let heard = |verdict: Heard, phone: &'static str| {
        let store = store.clone();
        async move {
            let replies = store.replies(id).await.unwrap();
            replies
                .into_iter()
                .find(|r| r.verdict == verdict && r.recipient == phone)
        }
    };
    let possible = wait_for("the possible opt-out", || {
        heard(Heard::PossibleOptOut, maybe)
    })
    .await;
    assert_eq!(possible.source, InboundSource::Event);
    assert!(
        !suppressed(&store).await.iter().any(|(p, _)| p == maybe),
        "a possible opt-out is recorded, not acted on"
    );

    store
        .suppress(operators, "asked by phone", "operator")
        .await
        .unwrap();
    write(operators, "START").await;
    wait_for("the operator's number's START", || {
        heard(Heard::OptIn, operators)
    })
    .await;
    assert!(
        suppressed(&store)
            .await
            .contains(&(operators.to_string(), "operator".to_string())),
        "START never lifts an operator's suppression"
    );

    write(stops, "Start").await;
    wait_for("START to lift the STOP", || async {
        (!suppressed(&store).await.iter().any(|(p, _)| p == stops)).then_some(())
    })
    .await;

    // The STOP's event again: heard before, nothing changes.
    let replay = json!({"cmd": "onUserConversation", "ok": 1, "uid": uid(stops, "wa3"), "data": [{
        "uid": uid(stops, "wa3"), "mid": stop["mid"], "msg": "Stop.", "typ": "text",
        "sender": "client", "dt": "2030-01-01T00:00:00.000Z", "bot": "WA3"
    }]});
    let answer: Value = reqwest::Client::new()
        .post(&events)
        .json(&replay)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        answer["result"]
            .as_str()
            .unwrap()
            .contains("1 heard before"),
        "{answer}"
    );
    assert!(!suppressed(&store).await.iter().any(|(p, _)| p == stops));

    let overview = campaign::report::Overview::of(&store, id)
        .await
        .unwrap()
        .unwrap();
    let r = &overview.replies;
    assert_eq!(
        (r.opt_outs, r.possible_opt_outs, r.opt_ins),
        (1, 1, 2),
        "{r:?}"
    );
    let listed: Vec<&str> = r.listed.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(listed, ["Stop.", "STOP please, I meant the other order"]);
    // One recipient's story, as `campaign lookup` tells it.
    let out = campaign_cmd(dir.path(), &["lookup", "07911 000011", "--region", "GB"]);
    let story = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{story}");
    // Its state is whatever the run's poller heard before the run ended (it may have polled
    // once, if the first send was recorded before its first look).
    let rows = store.recipients(id).await.unwrap();
    let state = rows.iter().find(|r| r.phone == stops).unwrap().state;
    let line_2 = format!("(line 2): {}, sent ", state.as_str());
    for line in [
        "+447911000011",
        line_2.as_str(),
        "wrote \"Stop.\" at",
        ": opt-out (by event)",
        "wrote \"Start\" at",
        "not suppressed",
    ] {
        assert!(story.contains(line), "{line} in: {story}");
    }
    receiver.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_a_template_is_read_after_its_ack_10_and_a_stop_in_it_suppresses() {
    let sim = spawn_sim(|c| {
        c.reply_text = "Stop.".into();
        c.ack_delay = Duration::from_millis(10);
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    // Numbers ending in 8 reach ack 10 (replied); others stop at read.
    let [replies, reads] = ["+447911000018", "+447911000011"];
    let id = sent(&sim, &store, dir.path(), &[replies, reads], false).await;
    let source = poll_until(&sim, &store, id, "the reply's STOP", || async {
        suppressed(&store)
            .await
            .into_iter()
            .find(|(p, _)| p == replies)
            .map(|(_, source)| source)
    })
    .await;
    assert_eq!(source, "keyword");
    let heard = store.replies(id).await.unwrap();
    assert_eq!(heard.len(), 1, "{heard:?}");
    assert_eq!(
        (heard[0].source, heard[0].verdict, heard[0].text.as_str()),
        (InboundSource::Reply, Heard::OptOut, "Stop.")
    );
    assert_eq!(suppressed(&store).await.len(), 1, "only who replied STOP");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sms_reply_is_found_by_the_sweep() {
    let sim = spawn_sim(|c| c.ack_delay = Duration::from_millis(10)).await;
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    let [writes, silent] = ["+447911000021", "+447911000022"];
    let id = sent(&sim, &store, dir.path(), &[writes, silent], true).await;
    // No events URL: the SMS reply is found only by reading the conversation.
    sim.call(
        "SimClientMessage",
        json!({ "uid": uid(writes, "cms"), "message": "ARRÊTE" }),
    )
    .await;
    poll_until(&sim, &store, id, "the sweep to hear ARRÊTE", || async {
        suppressed(&store)
            .await
            .iter()
            .any(|(p, _)| p == writes)
            .then_some(())
    })
    .await;
    let heard = store.replies(id).await.unwrap();
    assert_eq!(
        (heard.len(), heard[0].source, heard[0].verdict),
        (1, InboundSource::Sweep, Heard::OptOut)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_of_up_to_one_mib_is_heard_and_a_larger_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    let (receiver, url) = events_receiver(&store).await;
    let event = |entries: usize| {
        let data: Vec<Value> = (0..entries)
            .map(|i| {
                json!({"uid": "3941-wa3-447911000031", "mid": format!("m{i}"),
                "msg": "x".repeat(900), "typ": "text", "sender": "agent",
                "dt": "2026-01-01T00:00:00.000Z"})
            })
            .collect();
        json!({"cmd": "onUserConversation", "ok": 1, "uid": "3941-wa3-447911000031", "data": data})
    };
    let post = |body: Value| {
        let url = url.clone();
        async move {
            reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        post(event(600)).await,
        200,
        "a long conversation (~600 KiB)"
    );
    assert_eq!(post(event(1200)).await, 413, "over 1 MiB");
    receiver.stop().await.unwrap();
}

#[test]
fn the_keyword_lists_are_the_operators_to_change_but_stop_start_and_help_stay() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = campaign_cmd(dir.path(), &[&["opt-out"][..], args].concat());
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    };
    let (ok, said) = run(&["add", "Basta!", "--as", "out"]);
    assert!(
        ok && said.contains("BASTA is now on the out list"),
        "{said}"
    );
    let (ok, said) = run(&["test", "¡Basta! 🛑"]);
    assert!(ok && said.contains("opt-out"), "{said}");
    let (ok, said) = run(&["test", "Cancel my appointment"]);
    assert!(ok && said.contains("possible-opt-out"), "{said}");
    let (ok, said) = run(&["remove", "Stop"]);
    assert!(!ok && said.contains("STOP cannot be removed"), "{said}");
    let (ok, said) = run(&["possible", "act"]);
    assert!(ok, "{said}");
    let (ok, said) = run(&["test", "Cancel my appointment"]);
    assert!(ok && said.contains("the sender is suppressed"), "{said}");
    let (ok, said) = run(&["list", "--json"]);
    let lists: Value = serde_json::from_str(said.trim()).unwrap();
    assert!(ok && lists["out"].as_array().unwrap().contains(&json!("BASTA")));
    assert_eq!(lists["possible_opt_outs"], "act");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_warns_of_a_marketing_template_without_a_way_to_stop_and_of_adjacent_placeholders()
{
    let marketing = campaign::sim::TemplateDef {
        name: "weekend_sale".into(),
        language: "en".into(),
        body: "Hi {{1}} {{2}}, 20% off everything this weekend only!".into(),
        status: "APPROVED".into(),
        category: "MARKETING".into(),
    };
    let sim = spawn_sim(|c| c.templates = vec![marketing]).await;
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    let phones = vec!["+447911000051".to_string()];
    let csv = recipients_csv(dir.path(), "r.csv", &phones);
    let mut def = whatsapp_def(csv, "order_confirmation");
    if let campaign::campaign::definition::MessageSpec::Template { name, .. } = &mut def.message {
        *name = "weekend_sale".into();
    }
    let options = campaign::campaign::LoadOptions {
        dry_run: true,
        ..Default::default()
    };
    let loaded = campaign::campaign::load(&def, &store, Some(&sim.client()), &options)
        .await
        .unwrap();
    let warnings = loaded.summary.warnings.join("\n");
    assert!(
        warnings.contains("adjacent placeholders ({{1}} {{2}})"),
        "{warnings}"
    );
    assert!(warnings.contains("tells no way to stop"), "{warnings}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_whose_recipients_do_not_read_pauses_itself_with_the_figures() {
    let sim = spawn_sim(|c| c.ack_delay = Duration::from_millis(10)).await;
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    // Numbers ending in 7 are delivered and never read; 2001 (chatting to an agent) is
    // deferred, so the campaign still has a message to hold back.
    let phones = [
        "+447911000017",
        "+447911000027",
        "+447911000037",
        "+447911002001",
    ];
    let id = sent(&sim, &store, dir.path(), &phones, false).await;
    poll_until(&sim, &store, id, "three delivered", || async {
        (store.counts(id).await.unwrap().delivered == 3).then_some(())
    })
    .await;
    let policy = QualityPolicy {
        min_delivered: 3,
        ..QualityPolicy::default()
    };
    let mut watch = QualityWatch::new(Duration::ZERO);
    let reason = watch.watch(&store, id, &policy).await.unwrap().unwrap();
    assert!(
        reason.contains("0 read of 3 delivered (0.0%), under 40.0%"),
        "{reason}"
    );
    assert_eq!(
        store.control(id).await.unwrap(),
        Some(campaign::queue::Control::Paused)
    );
    let overview = campaign::report::Overview::of(&store, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(overview.state, "paused");
    assert_eq!(overview.reason.as_deref(), Some(reason.as_str()));
    assert_eq!(
        watch.watch(&store, id, &policy).await.unwrap(),
        None,
        "paused once"
    );
}
