//! The client against the simulator over real HTTP: every decision class.

use std::time::Duration;

use campaign::convrs::wire::{
    GetWhatsAppTemplate, SendSmsMessage, SendWhatsAppTemplate, TemplateParameter,
};
use campaign::convrs::{CallError, Client, ClientConfig, Verdict};
use campaign::sim::Fault;
use secrecy::SecretString;

use crate::helpers::{TOKEN, spawn_sim, uk_mobile, wait_for};

fn confirmation(phone: &str) -> SendWhatsAppTemplate {
    SendWhatsAppTemplate {
        bot_id: 3941,
        phone: phone.into(),
        template_name: "order_confirmation".into(),
        language: "en".into(),
        parameters: vec![
            TemplateParameter::text("Ann"),
            TemplateParameter::text("ORD-1"),
        ],
        ..Default::default()
    }
}

#[tokio::test]
async fn an_accepted_send_returns_its_mid_and_uid_and_can_be_tracked() {
    let sim = spawn_sim(|_| {}).await;
    let client = sim.client();
    let Verdict::Accepted { mid, uid } = client
        .send_whatsapp_template(&confirmation(&uk_mobile(3)))
        .await
    else {
        panic!()
    };
    assert_eq!(uid.as_deref(), Some("3941-wa3-447911000003"));
    let acked = wait_for("read ack", || async {
        let d = client.get_message_details(&mid).await.unwrap();
        (d.ack == 3).then_some(d)
    })
    .await;
    assert_eq!(acked.bot_id, Some(3941));
    let conversation = client
        .get_conversation(uid.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(conversation.len(), 1);
    assert_eq!(
        client
            .get_user(uid.as_deref().unwrap())
            .await
            .unwrap()
            .phone,
        uk_mobile(3)
    );
    assert_eq!(
        client.get_users(&Default::default()).await.unwrap().len(),
        1
    );
    let template = client
        .get_whatsapp_template(&GetWhatsAppTemplate {
            bot_id: 3941,
            template_name: "appointment_reminder".into(),
            language: "es".into(),
        })
        .await
        .unwrap();
    assert_eq!(template.body_parameter_count(), 3);
}

#[tokio::test]
async fn rate_limited_sends_are_retried_later_with_a_slow_down() {
    let sim = spawn_sim(|_| {}).await;
    let client = sim.client();
    assert!(matches!(
        client
            .send_whatsapp_template(&confirmation(&uk_mobile(4)))
            .await,
        Verdict::Accepted { .. }
    ));
    let again = client
        .send_whatsapp_template(&confirmation(&uk_mobile(4)))
        .await;
    assert!(
        matches!(
            again,
            Verdict::RetryLater {
                rate_limited: true,
                ..
            }
        ),
        "{again:?}"
    );
}

#[tokio::test]
async fn invalid_numbers_and_opt_outs_are_rejected_for_that_message_only() {
    let sim = spawn_sim(|_| {}).await;
    let client = sim.client();
    let invalid = client
        .send_whatsapp_template(&confirmation("+44 20 7946 0958"))
        .await;
    assert!(
        matches!(
            invalid,
            Verdict::Rejected {
                code: Some(1006),
                suppress: false,
                ..
            }
        ),
        "{invalid:?}"
    );
    let opted_out = client
        .send_whatsapp_template(&confirmation("+447700131050"))
        .await;
    assert!(
        matches!(
            opted_out,
            Verdict::Rejected {
                code: Some(131050),
                suppress: true,
                ..
            }
        ),
        "{opted_out:?}"
    );
    let unsubscribed = client
        .send_whatsapp_template(&confirmation("+447911002006"))
        .await;
    assert!(
        matches!(
            unsubscribed,
            Verdict::Rejected {
                code: Some(2006),
                suppress: true,
                ..
            }
        ),
        "{unsubscribed:?}"
    );
}

#[tokio::test]
async fn template_and_bot_problems_stop_the_campaign() {
    let sim = spawn_sim(|_| {}).await;
    let client = sim.client();
    let mut unknown = confirmation(&uk_mobile(5));
    unknown.template_name = "nope".into();
    let mut paused = confirmation(&uk_mobile(5));
    paused.template_name = "promo_paused".into();
    paused.parameters.truncate(1);
    let mut wrong_bot = confirmation(&uk_mobile(5));
    wrong_bot.bot_id = 12345;
    for request in [unknown, paused, wrong_bot] {
        let verdict = client.send_whatsapp_template(&request).await;
        assert!(
            matches!(verdict, Verdict::StopCampaign { .. }),
            "{verdict:?}"
        );
    }
}

#[tokio::test]
async fn a_refused_token_stops_the_token_and_is_never_shown() {
    let sim = spawn_sim(|_| {}).await;
    let secret = "wrong-token-SHOULD-NOT-LEAK";
    let client = Client::new(&ClientConfig::new(sim.url()), SecretString::from(secret)).unwrap();
    let verdict = client
        .send_sms(&SendSmsMessage {
            bot_id: 3941,
            phone: uk_mobile(6),
            message: "hi".into(),
            agent_email: None,
        })
        .await;
    assert!(matches!(verdict, Verdict::StopToken { .. }), "{verdict:?}");
    let error = client.get_user("3941-wa3-1").await.unwrap_err();
    for text in [
        format!("{verdict:?}"),
        error.to_string(),
        format!("{error:?}"),
        format!("{client:?}"),
    ] {
        assert!(!text.contains(secret), "{text}");
    }
    let spam = sim
        .client()
        .send_whatsapp_template(&confirmation("+447700131048"))
        .await;
    assert!(matches!(spam, Verdict::StopToken { .. }), "{spam:?}");
}

#[tokio::test]
async fn a_server_that_cannot_be_reached_means_nothing_was_sent() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    let client = Client::new(&ClientConfig::new(url), SecretString::from(TOKEN)).unwrap();
    let verdict = client
        .send_whatsapp_template(&confirmation(&uk_mobile(1)))
        .await;
    assert!(
        matches!(verdict, Verdict::Unreachable { .. }),
        "{verdict:?}"
    );
}

#[tokio::test]
async fn a_dropped_connection_after_processing_is_ambiguous_and_the_send_did_happen() {
    let sim = spawn_sim(|c| {
        c.fault_rate = 1.0;
        c.faults = vec![Fault::DropAfter];
    })
    .await;
    let verdict = sim
        .client()
        .send_whatsapp_template(&confirmation(&uk_mobile(8)))
        .await;
    assert!(matches!(verdict, Verdict::Unanswered { .. }), "{verdict:?}");
    assert_eq!(sim.ledger().len(), 1, "the simulator processed the send");
}

#[tokio::test]
async fn a_503_before_processing_is_ambiguous_to_the_client_and_sends_nothing() {
    let sim = spawn_sim(|c| {
        c.fault_rate = 1.0;
        c.faults = vec![Fault::Unavailable];
    })
    .await;
    let client = sim.client();
    let verdict = client
        .send_whatsapp_template(&confirmation(&uk_mobile(9)))
        .await;
    assert!(
        matches!(&verdict, Verdict::Ambiguous { reason } if reason.contains("503")),
        "{verdict:?}"
    );
    assert!(sim.ledger().is_empty());
    let error = client.get_user("x").await.unwrap_err();
    assert!(
        matches!(&error, CallError::Http { status: 503, body } if body.contains("Service Unavailable")),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_slow_answer_past_the_client_timeout_is_ambiguous() {
    let sim = spawn_sim(|c| {
        c.fault_rate = 1.0;
        c.faults = vec![Fault::Slow];
        c.slow = Duration::from_secs(5);
    })
    .await;
    let client = sim.client_with(|c| c.timeout = Duration::from_millis(200));
    let verdict = client
        .send_whatsapp_template(&confirmation(&uk_mobile(10)))
        .await;
    assert!(matches!(verdict, Verdict::Unanswered { .. }), "{verdict:?}");
}
