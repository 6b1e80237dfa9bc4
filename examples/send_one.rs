//! Starts the simulator in this process, sends one WhatsApp template to it over HTTP and follows
//! its acks: the smallest demonstration of the API layer.
//!
//! `cargo run --example send_one`

use std::time::Duration;

use campaign::convrs::wire::{SendWhatsAppTemplate, TemplateParameter};
use campaign::convrs::{Ack, Client, ClientConfig, Verdict};
use campaign::sim::{self, SimConfig};
use secrecy::SecretString;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = SimConfig {
        ack_delay: Duration::from_millis(200),
        ..SimConfig::default()
    };
    let running = sim::start("127.0.0.1:0".parse()?, config).await?;
    println!("simulator listening on {}", running.url());
    let client = Client::new(
        &ClientConfig::new(running.url()),
        SecretString::from("sim-token"),
    )?;
    let request = SendWhatsAppTemplate {
        bot_id: 3941,
        phone: "+44 7911 123458".into(),
        template_name: "order_confirmation".into(),
        language: "en".into(),
        parameters: vec![
            TemplateParameter::text("David"),
            TemplateParameter::text("ORD-12345"),
        ],
        ..Default::default()
    };
    let Verdict::Accepted { mid, uid } = client.send_whatsapp_template(&request).await else {
        anyhow::bail!("the simulator did not accept the message");
    };
    println!("accepted: mid {mid}, uid {}", uid.unwrap_or_default());
    let mut last = None;
    loop {
        let ack = client.get_message_details(&mid).await?.ack;
        if last != Some(ack) {
            let ack = Ack::from_code(ack).ok_or_else(|| anyhow::anyhow!("unknown ack {ack}"))?;
            println!("ack {ack}");
            if ack.is_final() {
                break;
            }
            last = Some(ack.code());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.stop().await?;
    Ok(())
}
