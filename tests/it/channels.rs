//! Every way the API reaches a person (issue 22): SMS smart encoding, the agent a chat is
//! assigned to, every user of a bot however many.

use campaign::campaign::definition::{CampaignFile, Channel, Definition, UsersSource};
use campaign::campaign::{self as camp, LoadOptions, users};
use campaign::convrs::wire::User;
use serde_json::Value;

use crate::helpers::{accepted_to, campaign_cmd, campaign_ok, spawn_sim, uk_mobile};

/// A CSV of two recipients and an SMS campaign file whose text has a curly apostrophe and a
/// long dash: UCS-2 as written, GSM-7 with their look-alikes.
fn curly_sms(dir: &std::path::Path, extra: &str) {
    crate::helpers::ann_and_bob(dir, None);
    let text = format!("Hi {{name}} \u{2014} it\u{2019}s ready. {}", "x".repeat(60));
    std::fs::write(
        dir.join("c.toml"),
        format!("channel = \"sms\"\nbot_id = 3941\ncsv = \"r.csv\"\nmessage = \"{text}\"\n{extra}"),
    )
    .unwrap();
}

fn validate_json(dir: &std::path::Path, args: &[&str]) -> Value {
    let out = campaign_cmd(dir, &[&["validate", "c.toml", "--json"], args].concat());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn validate_says_what_smart_encoding_would_save_when_it_is_off() {
    let dir = tempfile::tempdir().unwrap();
    curly_sms(dir.path(), "");
    let sms = &validate_json(dir.path(), &[])["sms"];
    // 79 characters: two UCS-2 segments each as written, one GSM-7 segment each with the
    // look-alikes.
    assert_eq!(sms["ucs2"], 2, "{sms}");
    assert_eq!(
        (&sms["smart_possible"], &sms["smart_would_save"]),
        (&2.into(), &2.into()),
        "{sms}"
    );
    let out = campaign_cmd(dir.path(), &["validate", "c.toml"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("2 messages go UCS-2 (70 characters a segment) only because of characters with a GSM-7 look-alike")
            && shown.contains("--smart-encoding (smart_encoding = true) would replace them and save 2 segments"),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smart_encoding_sends_the_gsm7_look_alikes_and_counts_the_segments_saved() {
    let dir = tempfile::tempdir().unwrap();
    curly_sms(dir.path(), "smart_encoding = true\n");
    let sms = &validate_json(dir.path(), &[])["sms"];
    assert_eq!(
        (&sms["gsm7"], &sms["segments"]),
        (&2.into(), &2.into()),
        "{sms}"
    );
    assert_eq!(
        (&sms["smart_encoded"], &sms["smart_saved"]),
        (&2.into(), &2.into()),
        "{sms}"
    );
    let sim = spawn_sim(|_| {}).await;
    campaign_ok(dir.path(), &sim, &["run", "c.toml", "--wait", "20s"]);
    let sent: Vec<String> = accepted_to(&sim, "+44")
        .into_iter()
        .filter_map(|e| e.message)
        .collect();
    assert_eq!(sent.len(), 2);
    assert!(
        sent.iter()
            .all(|m| m.starts_with("Hi ") && m.contains(" - it's ready.")),
        "{sent:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flag_turns_smart_encoding_on_and_makes_another_campaign() {
    let dir = tempfile::tempdir().unwrap();
    curly_sms(dir.path(), "");
    let sms = &validate_json(dir.path(), &["--smart-encoding"])["sms"];
    assert_eq!(sms["smart_encoded"], 2, "{sms}");
    let sim = spawn_sim(|_| {}).await;
    campaign_ok(dir.path(), &sim, &["run", "c.toml", "--wait", "20s"]);
    // The same campaign with smart encoding on sends other texts: the run says so first.
    let out = crate::helpers::spawn_campaign(
        dir.path(),
        &sim,
        &["run", "c.toml", "--smart-encoding", "--wait", "20s"],
    )
    .wait_with_output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("smart_encoding"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_email_of_the_campaign_file_goes_with_every_send() {
    let dir = tempfile::tempdir().unwrap();
    curly_sms(dir.path(), "agent_email = \"john@company.com\"\n");
    let sim = spawn_sim(|_| {}).await;
    campaign_ok(dir.path(), &sim, &["run", "c.toml", "--wait", "20s"]);
    let agents: Vec<_> = accepted_to(&sim, "+44")
        .into_iter()
        .map(|e| e.agent_email)
        .collect();
    assert_eq!(agents, vec![Some("john@company.com".to_string()); 2]);
}

#[tokio::test]
async fn an_agent_email_that_is_no_address_is_refused_before_anything_is_queued() {
    let dir = tempfile::tempdir().unwrap();
    curly_sms(dir.path(), "agent_email = \"john at company\"\n");
    let out = campaign_cmd(dir.path(), &["validate", "c.toml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && stderr.contains("agent_email \"john at company\" is not an e-mail address"),
        "{stderr}"
    );
}

/// An SMS campaign to the users of bot 3941 created after `after`.
fn users_campaign(after: &str, schedule: Option<&str>) -> Definition {
    CampaignFile {
        name: Some("welcome".into()),
        bot_id: Some(3941),
        channel: Some(Channel::Sms),
        message: Some("Welcome {last_name}".into()),
        convrs_users: Some(UsersSource {
            bot_id: 3941,
            created_after: Some(after.into()),
        }),
        schedule: schedule.map(str::to_string),
        ..Default::default()
    }
    .with(CampaignFile::default())
    .unwrap()
}

#[tokio::test]
async fn every_user_beyond_getusers_5000_is_loaded_and_those_without_a_phone_are_rejects() {
    // 12,001 users created a second apart (three answers' worth); every 1,000th has no phone.
    let created = |i: i64| {
        chrono::DateTime::from_timestamp(1_704_067_200 + i, 0)
            .unwrap()
            .to_rfc3339()
    };
    let all: Vec<User> = (0..12_001)
        .map(|i| User {
            uid: format!("3941-cms-{i}"),
            name: format!("User {i}"),
            phone: if i % 1000 == 999 {
                String::new()
            } else {
                format!("+4479{:08}", 11_000_000 + i)
            },
            bot: "CMS".into(),
            bot_id: 3941,
            created: created(i),
            ..Default::default()
        })
        .collect();
    let sim = spawn_sim(|c| c.users = all).await;
    let dir = tempfile::tempdir().unwrap();
    let store = crate::helpers::store_in(dir.path()).await;
    let dry = LoadOptions {
        dry_run: true,
        ..Default::default()
    };
    let loaded = camp::load(
        &users_campaign("2023-12-31", None),
        &store,
        Some(&sim.client()),
        &dry,
    )
    .await
    .unwrap();
    let s = &loaded.summary;
    assert_eq!(
        (s.rows, s.valid, s.rejected, s.duplicates),
        (12_001, 11_989, 12, 0),
        "{s:?}"
    );
    assert!(
        s.rejects[0]
            .reason
            .contains("Convrs user 3941-cms-999 has no phone number"),
        "{:?}",
        s.rejects[0]
    );
}

#[tokio::test]
async fn since_last_run_counts_from_the_schedules_previous_run_when_none_fired() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::helpers::store_in(dir.path()).await;
    let def = users_campaign(users::SINCE_LAST_RUN, Some("0 9 * * *"));
    let after = users::since_last_run(&store, &def, None)
        .await
        .unwrap()
        .unwrap();
    let schedule = campaign::schedule::Schedule::parse("0 9 * * *", "UTC").unwrap();
    let expected = schedule.latest_at(campaign::clock::now_ms() - 1).unwrap();
    assert_eq!(
        after,
        chrono::DateTime::from_timestamp_millis(expected)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string()
    );
    let unscheduled = users_campaign(users::SINCE_LAST_RUN, None);
    let err = users::since_last_run(&store, &unscheduled, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("has no schedule"), "{err}");
}

#[test]
fn a_created_after_that_is_no_date_is_refused_naming_the_forms() {
    let err = CampaignFile {
        bot_id: Some(3941),
        channel: Some(Channel::Sms),
        message: Some("Hi".into()),
        convrs_users: Some(UsersSource {
            bot_id: 3941,
            created_after: Some("last tuesday".into()),
        }),
        ..Default::default()
    }
    .with(CampaignFile::default())
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("\"last tuesday\" is not a date") && err.contains("since_last_run"),
        "{err}"
    );
}

/// A route campaign file over two recipients.
fn route_campaign(dir: &std::path::Path, route: &str) {
    crate::helpers::ann_and_bob(dir, Some(("plan", ["gold", "silver"])));
    std::fs::write(
        dir.join("c.toml"),
        format!(
            "channel = \"route\"\nbot_id = 3941\ncsv = \"r.csv\"\nroute = \"{route}\"\n\
             message = \"Hi {{name}}\"\nroute_via = \"whatsapp\"\n\
             userdata = {{ plan = \"{{plan}}\" }}\n"
        ),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_campaign_hands_each_number_to_the_route_with_its_text_and_user_data() {
    let dir = tempfile::tempdir().unwrap();
    route_campaign(dir.path(), "welcome");
    let out = campaign_cmd(dir.path(), &["validate", "c.toml"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("warning: route 'welcome' cannot be checked before sending"),
        "{shown}"
    );
    let sim = spawn_sim(|_| {}).await;
    campaign_ok(dir.path(), &sim, &["run", "c.toml", "--wait", "20s"]);
    let mut sent: Vec<_> = accepted_to(&sim, "+44")
        .into_iter()
        .map(|e| (e.cmd, e.route, e.message, e.userdata))
        .collect();
    sent.sort_by(|a, b| a.2.cmp(&b.2));
    let route = |name: &str, plan: &str| {
        (
            "SendMessage".to_string(),
            Some("welcome".to_string()),
            Some(format!("Hi {name}")),
            Some(serde_json::json!({ "plan": plan })),
        )
    };
    assert_eq!(sent, [route("Ann", "gold"), route("Bob", "silver")]);
    let status = campaign_cmd(dir.path(), &["status", "c", "--json"]);
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    // Its mids are followed like any send's (GetMessageDetails).
    assert_eq!(status["funnel"]["delivered"], 2, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_route_stops_the_campaign_at_its_first_send() {
    let dir = tempfile::tempdir().unwrap();
    route_campaign(dir.path(), "nope");
    let sim = spawn_sim(|_| {}).await;
    let out = crate::helpers::spawn_campaign(dir.path(), &sim, &["run", "c.toml", "--wait", "5s"])
        .wait_with_output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("1012"), "{stderr}");
    assert!(accepted_to(&sim, "+44").is_empty());
}

#[tokio::test]
async fn the_simulator_takes_a_free_form_text_only_within_24_hours_of_the_users_last_message() {
    let sim = spawn_sim(|c| c.number_rate = 0).await;
    let sent = sim
        .call(
            "SendWhatsAppTemplate",
            serde_json::json!({"botID": 3941, "phone": uk_mobile(1), "templateName": "followup_inquiry_request", "language": "en"}),
        )
        .await;
    let uid = sent["uid"].as_str().unwrap().to_string();
    let text = |message: &str| {
        sim.call(
            "SendTextMessage",
            serde_json::json!({"uid": uid, "message": message}),
        )
    };
    // The user never wrote: WhatsApp refuses a free-form message (131047).
    let refused = text("Your order shipped").await;
    assert_eq!(
        (
            &refused["ok"],
            &refused["errorCode"],
            &refused["whatsappErrorCode"]
        ),
        (&0.into(), &3002.into(), &131047.into()),
        "{refused}"
    );
    let wrote = |dt: String| {
        sim.call(
            "SimClientMessage",
            serde_json::json!({"uid": uid, "message": "where is my order?", "dt": dt}),
        )
    };
    let ago = |hours: i64| (chrono::Utc::now() - chrono::TimeDelta::hours(hours)).to_rfc3339();
    wrote(ago(25)).await;
    assert_eq!(
        text("Your order shipped").await["whatsappErrorCode"],
        131047
    );
    wrote(ago(23)).await;
    let taken = text("Your order shipped").await;
    // `ok: 1` and no mid, as the document shows; the ledger and the conversation have it.
    assert_eq!(taken["ok"], 1, "{taken}");
    assert!(taken.get("mid").is_none(), "{taken}");
    let ledger: Vec<_> = accepted_to(&sim, "+44")
        .into_iter()
        .filter(|e| e.cmd == "SendTextMessage")
        .map(|e| e.message)
        .collect();
    assert_eq!(ledger, [Some("Your order shipped".to_string())]);
}
