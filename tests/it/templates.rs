//! `campaign template` and `campaign templates`, and the close names an unknown template's
//! error gives, against the simulator.

use serde_json::Value;

use crate::helpers::{campaign_cmd, spawn_sim};

/// Runs `campaign` in `dir` against `sim` with the test token; its output.
fn with_api(
    dir: &std::path::Path,
    sim: &crate::helpers::TestSim,
    args: &[&str],
) -> std::process::Output {
    crate::helpers::spawn_campaign(dir, sim, args)
        .wait_with_output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_is_shown_with_a_preview_cached_and_listed() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("c.csv"),
        "phone,name,order\n+447911000001,Ann,O-1\n+447911000002,Bob,O-2\n",
    )
    .unwrap();
    let out = with_api(
        d,
        &sim,
        &[
            "template",
            "order_confirmation",
            "--language",
            "en",
            "--bot",
            "3941",
            "--csv",
            "c.csv",
            "--params",
            "name,order",
            "--row",
            "3",
        ],
    );
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "order_confirmation (en) of bot 3941, from the API (cached for later runs)",
        "status: APPROVED",
        "parameters: 2",
        "body: Hi {{1}}, your order {{2}} is confirmed.",
        "preview (line 3): Hi Bob, your order O-2 is confirmed.",
    ] {
        assert!(shown.contains(line), "{line:?} in {shown}");
    }
    // Cached: without an API it is shown from the store, and listed.
    let cached = campaign_cmd(
        d,
        &[
            "template",
            "order_confirmation",
            "--language",
            "en",
            "--bot",
            "3941",
            "--json",
        ],
    );
    let cached: Value = serde_json::from_slice(&cached.stdout).unwrap();
    assert_eq!(
        (&cached["from"], &cached["parameters"]),
        (&"as cached (no API to ask)".into(), &2.into())
    );
    let listed = campaign_cmd(d, &["templates", "--json"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["name"], "order_confirmation", "{listed}");
    assert_eq!(listed[0]["status"], "APPROVED", "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_template_names_the_close_ones_seen_before() {
    let sim = spawn_sim(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fetch = |name: &str, language: &str| {
        with_api(
            d,
            &sim,
            &["template", name, "--language", language, "--bot", "3941"],
        )
    };
    assert!(fetch("order_confirmation", "en").status.success());
    let typo = fetch("order_confirmaton", "en");
    let said = String::from_utf8_lossy(&typo.stderr);
    assert!(
        !typo.status.success()
            && said.contains("3001")
            && said.contains("Did you mean order_confirmation?"),
        "{said}"
    );
    let language = fetch("order_confirmation", "fr");
    let said = String::from_utf8_lossy(&language.stderr);
    assert!(
        said.contains("Template order_confirmation is known in: en"),
        "{said}"
    );
}
