//! `campaign sim` as a user runs it: the first line names the address, and it serves the API.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use campaign::convrs::wire::SendSmsMessage;
use campaign::convrs::{Client, ClientConfig, Verdict};
use secrecy::SecretString;

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
