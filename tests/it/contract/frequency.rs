//! A campaign's frequency cap, on both engines: every campaign's sends count, and what a capped
//! claim has in flight, also when two claims come at once.

use super::*;

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
