//! The command line as a user runs it: `campaign sim` names its address first and serves the API;
//! no flag value panics.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use campaign::convrs::wire::SendSmsMessage;
use campaign::convrs::{Client, ClientConfig, Verdict};
use secrecy::SecretString;

use crate::helpers::campaign_cmd;

#[tokio::test]
async fn campaign_sim_prints_its_address_first_and_serves_the_api() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_campaign"))
        .args(["sim", "--listen", "127.0.0.1:0", "--tokens", "t1,t2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {first:?}"))
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let client = Client::new(&ClientConfig::new(url), SecretString::from("t2")).unwrap();
    let verdict = client
        .send_sms(&SendSmsMessage {
            bot_id: 3941,
            phone: "+447911000001".into(),
            message: "hello".into(),
            agent_email: None,
        })
        .await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(matches!(verdict, Verdict::Accepted { .. }), "{verdict:?}");
}

#[test]
fn campaign_sim_refuses_a_fault_rate_above_one() {
    let out = Command::new(env!("CARGO_BIN_EXE_campaign"))
        .args(["sim", "--fault-rate", "2"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--fault-rate"));
}

#[test]
fn out_of_range_values_are_refused_with_the_valid_range_and_nothing_panics() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.csv"), "phone\n+447911000001\n").unwrap();
    let run = [
        "run",
        "c.csv",
        "--channel",
        "sms",
        "--bot",
        "3941",
        "--message",
        "Hi",
    ];
    for extra in [
        &["--rate", "4294967295"][..],
        &["--rate", "0"],
        &["--number-rate", "1000000"],
        &["--in-flight", "18446744073709551615"],
        &["--in-flight", "0"],
        &["--max-attempts", "0"],
        &["--poll-rate", "4294967295"],
        &["--wait", "5124095576030432h"],
        &["--wait", "18446744073709551615ms"],
        &["--poll-first", "99999999999h"],
        &["--reconcile-after", "99999999999h"],
        &["--poll-max-age", "31d"],
        &["--request-timeout", "0s"],
        &["--reconcile-after", "10s", "--request-timeout", "30s"],
        &["--bot", "0"],
    ] {
        let out = campaign_cmd(dir.path(), &[&run[..], extra].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{extra:?}: {stderr}");
        assert!(
            stderr.contains(extra[0]),
            "{extra:?} names the flag: {stderr}"
        );
    }
    for extra in [
        ["--token-rate", "4294967295"],
        ["--latency-ms", "18446744073709551615"],
    ] {
        let out = campaign_cmd(dir.path(), &[&["sim"][..], &extra].concat());
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
    }
}
