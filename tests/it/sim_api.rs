//! The simulator answers as the API document says, including for malformed requests.

use serde_json::json;

use crate::helpers::{CallbackSink, TOKEN, spawn_sim, uk_mobile, wait_for};

fn template(phone: &str) -> serde_json::Value {
    json!({"botID": 3941, "phone": phone, "templateName": "order_confirmation", "language": "en",
           "parameters": [{"type": "text", "text": "Ann"}, {"type": "text", "text": "ORD-1"}]})
}

#[tokio::test]
async fn malformed_requests_get_the_documents_error_codes() {
    let sim = spawn_sim(|_| {}).await;
    assert_eq!(sim.raw("{not json").await["errorCode"], 1017);
    assert_eq!(sim.raw("[1,2]").await["errorCode"], 1017);
    assert_eq!(sim.raw("").await["errorCode"], 1017);
    assert_eq!(sim.raw(r#"{"cmd":"GetUsers"}"#).await["errorCode"], 1000);
    assert_eq!(
        sim.raw(r#"{"cmd":"GetUsers","token":"wrong"}"#).await["errorCode"],
        1001
    );
    assert_eq!(
        sim.call("NoSuchCommand", json!({})).await["errorCode"],
        1004
    );
    let answer = sim.call("NoSuchCommand", json!({})).await;
    assert_eq!(
        (answer["ok"].clone(), answer["cmd"].clone()),
        (json!(0), json!("NoSuchCommand"))
    );
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("Unknown command")
    );
}

#[tokio::test]
async fn missing_and_invalid_send_fields_get_their_codes() {
    let sim = spawn_sim(|_| {}).await;
    let cases = [
        (
            "SendSMSMessage",
            json!({"phone": uk_mobile(1), "message": "hi"}),
            1008,
        ),
        (
            "SendSMSMessage",
            json!({"botID": 999, "phone": uk_mobile(1), "message": "hi"}),
            1015,
        ),
        (
            "SendSMSMessage",
            json!({"botID": 73, "phone": uk_mobile(1), "message": "hi"}),
            1016,
        ),
        (
            "SendWhatsAppTemplate",
            json!({"botID": 3942, "phone": uk_mobile(1), "templateName": "x", "language": "en"}),
            1016,
        ),
        (
            "SendSMSMessage",
            json!({"botID": 3941, "message": "hi"}),
            1009,
        ),
        (
            "SendSMSMessage",
            json!({"botID": 3941, "phone": "+44 20 7946 0958", "message": "hi"}),
            1006,
        ),
        (
            "SendSMSMessage",
            json!({"botID": 3941, "phone": "+4412", "message": "hi"}),
            1007,
        ),
        (
            "SendSMSMessage",
            json!({"botID": 3941, "phone": uk_mobile(1)}),
            1010,
        ),
        (
            "SendSMSMessage",
            json!({"botID": 3941, "phone": uk_mobile(1), "message": "x".repeat(2001)}),
            1013,
        ),
        (
            "SendWhatsAppTemplate",
            json!({"botID": 3941, "phone": uk_mobile(1), "language": "en"}),
            3003,
        ),
        (
            "SendWhatsAppTemplate",
            json!({"botID": 3941, "phone": uk_mobile(1), "templateName": "order_update"}),
            3004,
        ),
        (
            "SendWhatsAppTemplate",
            json!({"botID": 3941, "phone": uk_mobile(1), "templateName": "nope", "language": "en"}),
            3001,
        ),
        (
            "GetMessageDetails",
            json!({"mid": "000000000000000000000000"}),
            1020,
        ),
        ("GetUser", json!({}), 1025),
        ("GetUser", json!({"uid": "3941-wa3-1"}), 1005),
        ("GetUsers", json!({"CreatedDate": "yesterday"}), 1003),
        (
            "SendMessage",
            json!({"phone": uk_mobile(1), "route": "nope"}),
            1012,
        ),
        ("SendMessage", json!({"phone": uk_mobile(1)}), 1011),
        (
            "SendMessage",
            json!({"phone": uk_mobile(1), "route": "r".repeat(257)}),
            1014,
        ),
    ];
    for (cmd, fields, code) in cases {
        let answer = sim.call(cmd, fields.clone()).await;
        assert_eq!(answer["errorCode"], code, "{cmd} {fields} -> {answer}");
    }
    assert!(sim.ledger().is_empty(), "refused requests are not sends");
}

#[tokio::test]
async fn every_documented_phone_format_is_accepted_and_normalised() {
    let sim = spawn_sim(|c| c.number_rate = 0).await;
    for raw in [
        "+447922029419",
        "447922029419",
        "+44 792 202 9419",
        "44-792-202-9419",
    ] {
        let answer = sim
            .call(
                "SendSMSMessage",
                json!({"botID": 3941, "phone": raw, "message": "hi"}),
            )
            .await;
        assert_eq!(answer["ok"], 1, "{raw}: {answer}");
        assert_eq!(answer["phoneNumber"], "+447922029419");
        assert_eq!(answer["countryIso2"], "GB");
        assert_eq!(answer["uid"], "3941-cms-447922029419");
        assert_eq!(answer["mid"].as_str().unwrap().len(), 24);
    }
}

#[tokio::test]
async fn template_parameters_are_checked_against_the_template() {
    let sim = spawn_sim(|_| {}).await;
    let mut wrong_count = template(&uk_mobile(1));
    wrong_count["parameters"] = json!([{"type": "text", "text": "Ann"}]);
    let answer = sim.call("SendWhatsAppTemplate", wrong_count).await;
    assert_eq!(
        (
            answer["errorCode"].clone(),
            answer["whatsappErrorCode"].clone()
        ),
        (json!(3002), json!(132000))
    );
    for bad in ["two\nlines", "a\ttab", "five     spaces"] {
        let mut request = template(&uk_mobile(1));
        request["parameters"][0]["text"] = json!(bad);
        assert_eq!(
            sim.call("SendWhatsAppTemplate", request).await["whatsappErrorCode"],
            132018,
            "{bad:?}"
        );
    }
    let mut paused = template(&uk_mobile(1));
    paused["templateName"] = json!("promo_paused");
    paused["parameters"] = json!([{"type": "text", "text": "Ann"}]);
    assert_eq!(
        sim.call("SendWhatsAppTemplate", paused).await["whatsappErrorCode"],
        132015
    );
    assert_eq!(
        sim.call("SendWhatsAppTemplate", template(&uk_mobile(1)))
            .await["ok"],
        1
    );
}

#[tokio::test]
async fn the_token_limit_holds_over_any_one_second_window() {
    let sim = spawn_sim(|c| c.token_rate = 5).await;
    let mut codes = vec![];
    for i in 0..12 {
        let answer = sim
            .call(
                "SendSMSMessage",
                json!({"botID": 3941, "phone": uk_mobile(i), "message": "hi"}),
            )
            .await;
        codes.push(answer["errorCode"].as_i64().unwrap_or(0));
    }
    assert!(codes.contains(&2008), "{codes:?}");
    let ledger = sim.ledger();
    assert_eq!(
        ledger.iter().filter(|e| e.event == "rate_limited").count(),
        codes.iter().filter(|c| **c == 2008).count()
    );
    let accepted: Vec<_> = ledger
        .iter()
        .filter(|e| e.event == "accepted")
        .map(|e| chrono::DateTime::parse_from_rfc3339(&e.time).unwrap())
        .collect();
    for (i, t) in accepted.iter().enumerate() {
        let within = accepted[i..]
            .iter()
            .filter(|u| (**u - *t).num_microseconds().unwrap() < 1_000_000)
            .count();
        assert!(within <= 5, "{within} sends within one second of {t}");
    }
    assert!(
        ledger
            .iter()
            .all(|e| e.token.starts_with("fp:") && !e.token.contains(TOKEN))
    );
}

#[tokio::test]
async fn a_number_gets_one_message_per_second() {
    let sim = spawn_sim(|_| {}).await;
    let send = || {
        sim.call(
            "SendSMSMessage",
            json!({"botID": 3941, "phone": uk_mobile(7), "message": "hi"}),
        )
    };
    assert_eq!(send().await["ok"], 1);
    assert_eq!(send().await["errorCode"], 2007);
}

#[tokio::test]
async fn acks_progress_as_predicted_and_conversations_show_the_message() {
    let sim = spawn_sim(|_| {}).await;
    let phone = "+447911000128"; // ends in 8: 0, 1, 2, 3, 10
    let sent = sim.call("SendWhatsAppTemplate", template(phone)).await;
    let mid = sent["mid"].as_str().unwrap().to_string();
    let uid = sent["uid"].as_str().unwrap().to_string();
    assert_eq!(uid, "3941-wa3-447911000128");
    wait_for("ack 10", || async {
        let d = sim.call("GetMessageDetails", json!({"mid": mid})).await;
        (d["ack"] == 10).then_some(())
    })
    .await;
    let details = sim.call("GetMessageDetails", json!({"mid": mid})).await;
    assert_eq!(
        (details["uid"].as_str(), details["botID"].as_i64()),
        (Some(uid.as_str()), Some(3941))
    );
    let conversation = sim.call("GetConversation", json!({"uid": uid})).await;
    assert_eq!(
        conversation["data"][0]["msg"],
        "Hi Ann, your order ORD-1 is confirmed."
    );
    assert_eq!(conversation["data"][0]["mid"], mid.as_str());
    let user = sim.call("GetUser", json!({"uid": uid})).await;
    assert_eq!(user["data"]["phone"], phone);
    let users = sim
        .call(
            "GetUsers",
            json!({"botID": 3941, "CreatedDate": "2020-03-01T00:00:00"}),
        )
        .await;
    assert_eq!(users["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn callbacks_carry_every_ack_with_the_payload_and_headers() {
    let sim = spawn_sim(|_| {}).await;
    let sink = CallbackSink::spawn().await;
    let mut request = template("+447911000121");
    request["webhookURL"] = json!(sink.url);
    request["webhookPayload"] = json!({"campaign": 7, "message": 42});
    request["webhookHeaders"] = json!(["X-Campaign-Secret: s3cret"]);
    let sent = sim.call("SendWhatsAppTemplate", request).await;
    let received = wait_for("four callbacks", || async {
        let r = sink.received();
        (r.len() == 4).then_some(r)
    })
    .await;
    let acks: Vec<i64> = received
        .iter()
        .map(|(_, b)| b["ack"].as_i64().unwrap())
        .collect();
    assert_eq!(acks, [0, 1, 2, 3]);
    for (headers, body) in &received {
        assert_eq!(headers["x-campaign-secret"], "s3cret");
        assert_eq!(
            body["webhookPayload"],
            json!({"campaign": 7, "message": 42})
        );
        assert_eq!(body["mid"], sent["mid"]);
        assert_eq!(body["uid"], sent["uid"]);
        assert_eq!(body["botID"], 3941);
        assert_eq!(body["ok"], 1);
    }
}

#[tokio::test]
async fn scripted_numbers_meet_their_errors() {
    let sim = spawn_sim(|_| {}).await;
    let wa = |p: &str| sim.call("SendWhatsAppTemplate", template(p));
    assert_eq!(wa("+447700131050").await["whatsappErrorCode"], 131050);
    assert_eq!(wa("+447700131048").await["whatsappErrorCode"], 131048);
    assert_eq!(wa("+447911002006").await["errorCode"], 2006);
    assert_eq!(wa("+447911002001").await["errorCode"], 2001);
}
