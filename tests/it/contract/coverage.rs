//! The contract's coverage: every public method of the store runs on both engines.

use campaign::queue::{CampaignId, Outcome, Store};

use super::{Scene, claim_due, queued, run};
use crate::helpers::lease;

/// Every public method of the store is called by a contract scenario, directly or (listed
/// here) through one it calls, so that a statement only one engine takes cannot land untested.
#[test]
fn every_public_method_of_the_store_runs_in_a_scenario() {
    const THROUGH: &[(&str, &str)] = &[
        ("create_campaign", "a load (queue)"),
        ("insert_rejects", "a load (queue)"),
        ("loaded", "a load (queue)"),
        ("set_load_record", "a load (queue)"),
        ("set_price", "a load (queue)"),
        ("acquire_lease", "take_lease"),
        ("take_lease_under", "take_lease"),
        ("finish_many", "finish"),
        ("open", "every scenario's store"),
        ("open_with", "open"),
    ];
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut scenarios = std::fs::read_to_string(root.join("tests/it/pg_schema.rs")).unwrap();
    for file in std::fs::read_dir(root.join("tests/it/contract")).unwrap() {
        scenarios += &std::fs::read_to_string(file.unwrap().path()).unwrap();
    }
    let mut missing = vec![];
    for file in rust_files(&root.join("src/queue")) {
        let text = std::fs::read_to_string(file).unwrap();
        for (at, _) in text.match_indices("pub async fn ") {
            let rest = &text[at + "pub async fn ".len()..];
            let name = &rest[..rest.find(['(', '<']).unwrap()];
            let method = rest[..rest.find(')').unwrap()].contains("self");
            let called =
                scenarios.contains(&format!(".{name}(")) || THROUGH.iter().any(|(n, _)| *n == name);
            if method && !called {
                missing.push(name.to_string());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "store methods no contract scenario calls (add them to one): {missing:?}"
    );
}

/// The `.rs` files under `dir`, its subfolders' too.
fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

contract!(
    the_methods_no_other_scenario_calls_run_on_both_engines,
    the_rest
);
/// What the other scenarios do not call directly (the run, the worker, the tracker and the
/// commands do), once each on a campaign with a message sent, one failed and one queued: a
/// statement only one engine takes fails here.
async fn the_rest(scene: Scene) {
    let store = &scene.store;
    let id = queued(&scene, 3).await;
    let (lease, claims) = claim_due(store, id).await;
    let with_uid = Outcome::Sent {
        mid: "m-rest".into(),
        uid: Some("3941-wa3-447700900001".into()),
        poll_at: i64::MAX,
    };
    store.finish(&claims[0], &with_uid).await.unwrap();
    let failed = Outcome::Failed {
        code: Some(1005),
        reason: "temporarily refused".into(),
        suppress: false,
    };
    store.finish(&claims[1], &failed).await.unwrap();
    let released = Outcome::Released {
        reason: "not sent".into(),
    };
    store.finish(&claims[2], &released).await.unwrap();
    drop(lease);
    let name = store.name_and_channel(id).await.unwrap().0;
    assert!(matches!(
        store.find_campaign(&name).await.unwrap(),
        campaign::queue::Found::One(found) if found == id
    ));
    let (latest, settings) = store.latest_campaign_named(&name).await.unwrap().unwrap();
    assert_eq!(latest, id);
    assert_eq!(store.campaign_settings(id).await.unwrap(), Some(settings));
    assert_eq!(store.campaigns().await.unwrap().len(), 1);
    assert_eq!(store.message_count(id).await.unwrap(), 3);
    assert!(store.load_record(id).await.unwrap().is_some());
    assert!(store.rejects(id).await.unwrap().is_empty());
    assert_eq!(store.priority(id).await.unwrap(), 1);
    store.campaign_token(id).await.unwrap();
    store.standing(id).await.unwrap();
    let known = store.known_mids(&["m-rest", "nobody"]).await.unwrap();
    assert_eq!(known.len(), 1, "{known:?}");
    let message = claims[0].message_id;
    assert!(
        store
            .message_for_callback(Some(message), "m-rest")
            .await
            .unwrap()
            .is_some()
    );
    let mut payloads = 0;
    store
        .accepted_payloads(id, |_| payloads += 1)
        .await
        .unwrap();
    assert_eq!(payloads, 1);
    store.awaiting_acks(id).await.unwrap();
    store.undelivered(id).await.unwrap();
    store.next_poll(id).await.unwrap();
    store.troubled(id, 10).await.unwrap();
    let (line, _) = store.message_at_line(id, None).await.unwrap().unwrap();
    assert!(
        store
            .message_at_line(id, Some(line))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .message_at_line(id, Some(line + 1000))
            .await
            .unwrap()
            .is_none()
    );
    store.campaigns_to_track().await.unwrap();
    store.campaigns_to_track_on("fp:rest").await.unwrap();
    store.sendable_campaigns("fp:rest", i64::MAX).await.unwrap();
    store.unfinished_batches("fp:rest").await.unwrap();
    store.schedules(None).await.unwrap();
    store.schedules(Some(("fp:rest", i64::MAX))).await.unwrap();
    store.deferred(id, 0).await.unwrap();
    assert_eq!(store.expire_due(Some(id), i64::MAX).await.unwrap(), 0);
    assert_eq!(store.expire_due(None, i64::MAX).await.unwrap(), 0);
    assert_eq!(
        store.retry_failed(id).await.unwrap(),
        1,
        "1005 is not permanent"
    );
    assert_eq!(store.retry_uncertain(id).await.unwrap(), 0);
    // `run --at`: the two queued (released, and failed then retried) wait until then.
    let at = store.now_ms() + 3_600_000;
    assert_eq!(store.hold_until(id, at).await.unwrap(), 2);
    assert_eq!(store.deferred(id, at - 1).await.unwrap()[0].first_at, at);
    // What a new simulator of a rehearsal remembers: the one sent, still followed.
    let earlier = store.earlier_sends().await.unwrap();
    assert_eq!(
        earlier
            .iter()
            .map(|(mid, uid, _)| (mid.as_str(), uid.as_str()))
            .collect::<Vec<_>>(),
        [("m-rest", "3941-wa3-447700900001")]
    );
    store.suppressed_set().await.unwrap();
    store.stop_token("fp:rest", "a test").await.unwrap();
    assert!(store.clear_token_stop("fp:rest").await.unwrap());
    store.cache_template(3941, "t", "en", "{}").await.unwrap();
    assert_eq!(
        store
            .cached_template(3941, "t", "en")
            .await
            .unwrap()
            .as_deref(),
        Some("{}")
    );
    let cached = store.cached_templates().await.unwrap();
    assert_eq!(
        cached
            .iter()
            .map(|t| (
                t.bot_id,
                t.name.as_str(),
                t.language.as_str(),
                t.body.as_str()
            ))
            .collect::<Vec<_>>(),
        [(3941, "t", "en", "{}")]
    );
    assert_eq!(store.setting_or_insert("k", "v").await.unwrap(), "v");
    assert_eq!(store.setting("k").await.unwrap().as_deref(), Some("v"));
    let now = store.now_ms();
    store
        .worker_seen("pid 1@rest", now, now - 1000)
        .await
        .unwrap();
    store.worker_gone("pid 1@rest").await.unwrap();
    store.ping().await.unwrap();
    // A second store on the same database, closed (the scene's own goes on).
    Store::open(&scene.db).await.unwrap().close().await;
    the_writers(store, id, claims[1].message_id).await;
}

/// The writes of the same: settings, controls, leases, polls, suppressions.
async fn the_writers(store: &Store, id: CampaignId, message: i64) {
    assert!(store.next_due(id).await.unwrap().is_some(), "one requeued");
    store.defer(message, i64::MAX / 2).await.unwrap();
    store.schedule_poll(message, 1, Some(5)).await.unwrap();
    store.schedule_poll(message, 2, None).await.unwrap();
    store.set_priority(id, 3).await.unwrap();
    assert_eq!(store.priority(id).await.unwrap(), 3);
    let options = campaign::queue::SendOptions {
        rate: Some(5),
        ..Default::default()
    };
    store.set_send_options(id, &options).await.unwrap();
    store.set_timing(id, "{}").await.unwrap();
    store
        .queue_for_sender(id, "fp:rest", 2, options, "a test")
        .await
        .unwrap();
    store.queue_fired(id, "fp:rest", "a test").await.unwrap();
    store.token_holders().await.unwrap();
    let lease = lease(store, id).await;
    assert!(store.renew_lease(&lease).await.unwrap().is_ok());
    store.release_lease(id, &lease.owner).await.unwrap();
    store
        .set_campaign_state(id, campaign::queue::CampaignState::Paused, Some("a test"))
        .await
        .unwrap();
    store.control(id).await.unwrap();
    assert!(
        store
            .suppress("+447911000999", "a test", "operator")
            .await
            .unwrap()
    );
    assert!(store.unsuppress("+447911000999").await.unwrap());
    assert!(!store.remove_schedule(id).await.unwrap(), "it had none");
    store.batch_of(id, 1).await.unwrap();
    store.finish_batch(-1, "{}").await.unwrap();
    store
        .update_campaign_settings(id, "fp-settings", "{}")
        .await
        .unwrap();
}
