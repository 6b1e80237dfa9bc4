//! Reports (issue 10): what `status` and the HTML page say, checked in headless Chromium;
//! delivery times from the acks' own timestamps; SMS segments and cost.

use std::time::Duration;

use serde_json::{Value, json};

use crate::browser;
use crate::helpers::{campaign_cmd, recipients_csv, spawn_campaign, spawn_sim, uk_mobile};
use crate::tracking::finished_campaign;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_the_funnel_failure_reasons_and_median_time_to_delivered() {
    let sim = spawn_sim(|c| c.ack_delay = Duration::from_millis(20)).await;
    let dir = tempfile::tempdir().unwrap();
    let (_store, id) = finished_campaign(&sim, dir.path()).await;
    let out = crate::helpers::campaign_cmd(dir.path(), &["status", &id.0.to_string(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["counts"]["total"], 6);
    assert_eq!(
        status["funnel"],
        json!({"queued": 6, "sent": 6, "delivered": 4, "read": 3, "replied": 1})
    );
    let reasons: Vec<&str> = status["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.contains("-2")) && reasons.iter().any(|r| r.contains("-1")),
        "{reasons:?}"
    );
    assert!(
        status["delivery"]["by_callback"]["median_ms"]
            .as_i64()
            .is_some(),
        "the simulator's callbacks carry timestamps: {status}"
    );
    assert_eq!(status["usage"]["accepted"], 6);
    let text = crate::helpers::campaign_cmd(dir.path(), &["status", &id.0.to_string()]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("median time to delivered") && text.contains("by the callbacks' timestamps"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_have_a_row_per_recipient_and_charts_a_browser_finds() {
    let sim = spawn_sim(|c| c.ack_delay = Duration::from_millis(20)).await;
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = finished_campaign(&sim, dir.path()).await;
    // Two recipients answered: one opted out, one perhaps.
    let later = store.now_ms() + 1_000;
    let said = |phone: &str, mid: &str, text: &str| campaign::listening::ClientMessage {
        uid: format!("3941-wa3-{}", phone.trim_start_matches('+')),
        mid: mid.into(),
        text: text.into(),
        dt_ms: later,
    };
    let replies = [
        said("+447911000011", "r1", "STOP"),
        said("+447911000012", "r2", "Stop sending me <b>offers</b>"),
    ];
    campaign::listening::hear(&store, &replies, campaign::queue::InboundSource::Event)
        .await
        .unwrap();
    let out = crate::helpers::campaign_cmd(
        dir.path(),
        &[
            "report",
            &id.0.to_string(),
            "--csv",
            "r.csv",
            "--html",
            "r.html",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(dir.path().join("r.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 7, "header and one row per recipient: {csv}");
    assert!(lines[0].starts_with("line,phone,state,ack,mid,attempts,error_code,error"));
    // Then the source row's own columns (its phone column under another name).
    assert!(
        lines[0].ends_with(",opt_out,opt_out_text,opt_out_at,source.phone,name,order,key"),
        "{}",
        lines[0]
    );
    let opted = lines.iter().find(|l| l.contains("+447911000011")).unwrap();
    assert!(opted.contains(",opt-out,STOP,"), "{opted}");
    assert!(
        lines[1].starts_with("2,+447911000010,failed,-2,"),
        "a phone is a signed number, not a formula: written as it is, so it reads back: {}",
        lines[1]
    );

    let Some(page) = browser::render(&dir.path().join("r.html")) else {
        return;
    };
    assert!(
        page.console.is_empty(),
        "the page renders without console messages: {:?}",
        page.console
    );
    // The screenshot shows the charts: the funnel's bars, the failure bars, the series.
    for (what, colour, at_least) in [
        ("funnel bars", [0x3b, 0x82, 0xf6], 2000),
        ("failure bars", [0xef, 0x44, 0x44], 500),
        ("the delivered series", [0x10, 0xb9, 0x81], 20),
    ] {
        let n = page.pixels_of(colour);
        assert!(
            n >= at_least,
            "{what}: {n} pixels of {colour:?} in the screenshot"
        );
    }
    let dom = &page.dom;
    for id in ["funnel", "acks-over-time", "failure-reasons"] {
        assert!(
            dom.contains(&format!("<svg id=\"{id}\"")),
            "chart {id} missing from the rendered page: {dom}"
        );
    }
    assert_eq!(
        dom.matches("class=\"bar\"").count(),
        5 + 2,
        "five funnel bars and two failure reasons"
    );
    assert_eq!(
        dom.matches("class=\"series\"").count(),
        4,
        "sent, delivered, read, replied"
    );
    assert!(
        dom.contains("<table id=\"troubled\">") && dom.contains("+447911000010"),
        "the failed recipients are listed"
    );
    assert!(
        dom.contains("<table id=\"opt-outs\">")
            && dom.contains("Stop sending me &lt;b&gt;offers&lt;/b&gt;")
            && dom.contains("possible-opt-out"),
        "the opt-outs are listed, escaped"
    );
    for line in [
        "template text",
        "token",
        "first send",
        "sending took",
        "rows loaded",
        "accepted by the API",
        "estimated cost",
    ] {
        assert!(
            dom.contains(&format!("<th>{line}</th>")),
            "the header says {line}"
        );
    }
    // Each message counted once per state: the chart ends where the funnel says.
    let f = store.funnel(id).await.unwrap();
    for (state, n) in [
        ("sent", f.sent),
        ("delivered", f.delivered),
        ("read", f.read),
        ("replied", f.replied),
    ] {
        assert!(
            dom.contains(&format!("data-state=\"{state}\" data-count=\"{n}\"")),
            "{state}: the chart's count is the funnel's ({n})"
        );
    }
}

/// Messages of a WhatsApp campaign marked accepted a minute ago, for acks told by hand.
async fn accepted_a_minute_ago(
    dir: &std::path::Path,
    phones: &[String],
) -> (campaign::queue::Store, campaign::queue::CampaignId, i64) {
    let sim = spawn_sim(|_| {}).await;
    let store = crate::helpers::store_in(dir).await;
    let def =
        crate::helpers::whatsapp_def(recipients_csv(dir, "c.csv", phones), "order_confirmation");
    let id = crate::helpers::queue(&store, &sim, &def)
        .await
        .campaign
        .unwrap();
    let sent = chrono::Utc::now().timestamp_millis() - 60_000;
    sqlx::query("UPDATE messages SET state = 'sent', ack = 1, sent_at = ?, mid = 'm' || id WHERE campaign_id = ?")
        .bind(sent)
        .bind(id)
        .execute(&crate::helpers::raw(&store).await)
        .await
        .unwrap();
    (store, id, sent)
}

async fn told(
    store: &campaign::queue::Store,
    line: i64,
    ack: campaign::convrs::Ack,
    source: &str,
    at_ms: i64,
) {
    let (message_id, mid): (i64, String) =
        sqlx::query_as("SELECT id, mid FROM messages WHERE line = ?")
            .bind(line)
            .fetch_one(&crate::helpers::raw(store).await)
            .await
            .unwrap();
    let heard = campaign::queue::HeardAck {
        message_id,
        ack,
        source,
        at_ms,
        mid: Some(&mid),
        attempt: None,
    };
    store.record_ack(&heard).await.unwrap();
}

#[tokio::test]
async fn delivery_times_use_the_callbacks_timestamps_and_say_when_polling_observed_them() {
    use campaign::convrs::Ack::{Delivered, Read};
    let dir = tempfile::tempdir().unwrap();
    let (store, id, sent) = accepted_a_minute_ago(dir.path(), &[1, 2, 3].map(uk_mobile)).await;
    // Line 2: a poll found it delivered after 10 s; then its callback came, timestamped 1 s
    // after the send. Line 3: only a poll, after 12 s. Line 4: read by callback, its
    // timestamp (whole seconds) before the send it follows.
    told(&store, 2, Delivered, "poll", sent + 10_000).await;
    told(&store, 2, Delivered, "callback", sent + 1_000).await;
    told(&store, 3, Delivered, "poll", sent + 12_000).await;
    told(&store, 4, Read, "callback", sent - 700).await;
    let times = store.delivery_times(id).await.unwrap();
    let median = |m: Option<campaign::queue::Median>| m.map(|m| (m.median_ms, m.messages));
    assert_eq!(
        median(times.by_callback),
        Some((1_000, 2)),
        "when it was delivered, not when we found out"
    );
    assert_eq!(median(times.by_polling), Some((12_000, 1)));
    let said = campaign::report::delivery_times(&times);
    assert!(
        said.contains("by the callbacks' timestamps") && said.contains("as observed by polling"),
        "{said}"
    );
    // No state is reached before the one it follows: line 4 was read at its send, not before.
    for reach in store.reach_times(id).await.unwrap() {
        let known: Vec<i64> = reach.iter().flatten().copied().collect();
        assert!(known.is_sorted(), "{reach:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_reports_count_segments_and_cost_at_the_campaign_files_price() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // One segment in GSM-7, one in UCS-2 (ë is not in GSM-7), two for a long GSM-7 text.
    let long = "B".repeat(200);
    let rows = format!(
        "phone,name\n{},Ann\n{},Zoë\n{},{long}\n",
        uk_mobile(1),
        uk_mobile(2),
        uk_mobile(3)
    );
    std::fs::write(d.join("c.csv"), rows).unwrap();
    let file = |price: &str| {
        let toml = format!(
            "name = \"prices\"\nchannel = \"sms\"\nbot_id = 3941\nmessage = \"Hi {{name}}, your order is ready.\"\n\
             csv = \"c.csv\"\nprice = {{ per_segment = {price}, currency = \"GBP\" }}\n"
        );
        std::fs::write(d.join("prices.toml"), toml).unwrap();
    };
    let usage = |price: &str| {
        file(price);
        let run = spawn_campaign(d, &sim, &["run", "prices.toml", "--wait", "20s"])
            .wait_with_output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let status = campaign_cmd(d, &["status", "prices", "--json"]);
        let status: Value = serde_json::from_slice(&status.stdout).unwrap();
        status["usage"].clone()
    };
    assert_eq!(
        usage("0.04"),
        json!({"accepted": 3, "segments": 4, "ucs2_messages": 1,
               "cost": {"amount": 0.16, "currency": "GBP", "price": "0.04 GBP per segment"}})
    );
    // A new tariff is the same campaign: the run goes on and the report uses it.
    assert_eq!(usage("0.05")["cost"]["amount"], 0.2);
    let out = campaign_cmd(d, &["report", "prices", "--html", "r.html"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(d.join("r.html")).unwrap();
    assert!(page.contains("<th>SMS segments</th><td>4</td>"), "{page}");
    assert!(page.contains("0.20 GBP (0.05 GBP per segment)"), "{page}");
    let text = campaign_cmd(d, &["status", "prices"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("4 SMS segments (1 message in UCS-2"));
}
