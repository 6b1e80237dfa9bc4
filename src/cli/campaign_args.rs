//! The flags that define a campaign (shared by `validate` and `run`), and the API connection
//! (a real token, or `--sim` for an in-process simulator).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::GlobalArgs;
use crate::campaign::definition::{CampaignFile, Channel, Definition};
use crate::convrs::{Client, ClientConfig};
use crate::queue::Store;
use crate::sim::{self, EarlierSend, RunningSim, SimConfig};

#[derive(Debug, Args)]
pub struct CampaignArgs {
    #[command(flatten)]
    pub api: super::ApiArgs,
    /// A CSV file of recipients, or a campaign file (.toml) naming its source and message.
    pub source: PathBuf,
    /// whatsapp (a template), sms (a text), route (SendMessage to a flow route) or text (a
    /// WhatsApp text inside the 24-hour window the recipient's last message opened).
    #[arg(long, value_enum)]
    pub channel: Option<Channel>,
    /// The Convrs bot that sends.
    #[arg(long = "bot", value_name = "ID", value_parser = clap::value_parser!(i64).range(1..))]
    pub bot_id: Option<i64>,
    /// WhatsApp template name.
    #[arg(long)]
    pub template: Option<String>,
    /// WhatsApp template language code (e.g. en).
    #[arg(long)]
    pub language: Option<String>,
    /// CSV columns, in order, that fill the template's {{1}}, {{2}}...
    #[arg(long, value_delimiter = ',', value_name = "COL,COL")]
    pub params: Option<Vec<String>>,
    /// SMS or WhatsApp text with {column} placeholders (for a route: the optional text it is
    /// handed).
    #[arg(long)]
    pub message: Option<String>,
    /// The flow route a route campaign hands each number to.
    #[arg(long)]
    pub route: Option<String>,
    /// The column holding phone numbers (default: phone).
    #[arg(long)]
    pub phone_column: Option<String>,
    /// Text campaigns: the column holding each recipient's Convrs uid (default: uid; without
    /// it, the WhatsApp user of the row's number).
    #[arg(long, value_name = "COLUMN")]
    pub uid_column: Option<String>,
    /// Read national numbers in this region (ISO 3166 alpha-2, e.g. GB).
    #[arg(long, value_name = "ISO2")]
    pub region: Option<String>,
    /// Campaign name (default: the file name).
    #[arg(long)]
    pub name: Option<String>,
    /// Replace newlines, tabs and runs of spaces in template parameters instead of rejecting.
    #[arg(long)]
    pub clean_params: bool,
    /// Send an SMS even when a {placeholder} of its row is empty (otherwise the row is rejected).
    #[arg(long)]
    pub allow_empty: bool,
    /// SMS: replace curly quotes, long dashes, non-breaking spaces and other look-alikes with
    /// their GSM-7 forms when that keeps a message out of UCS-2 (70 characters a segment).
    #[arg(long)]
    pub smart_encoding: bool,
    /// The CSV delimiter: ',' ';' '|' or tab (default: found from the header line).
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<String>,
    /// Run a SQL source even as a role that can write (a superuser, or one with write rights).
    #[arg(long)]
    pub allow_writable_source: bool,
    /// Run against an in-process simulator: no token, nothing really sent (a rehearsal, in its
    /// own database: campaign.sim.db unless --db is given).
    #[arg(long)]
    pub sim: bool,
}

impl CampaignArgs {
    /// The first flag given that defines a campaign's message or source reading, if any.
    pub fn defining_flag(&self) -> Option<&'static str> {
        [
            (self.channel.is_some(), "--channel"),
            (self.bot_id.is_some(), "--bot"),
            (self.template.is_some(), "--template"),
            (self.language.is_some(), "--language"),
            (self.params.is_some(), "--params"),
            (self.message.is_some(), "--message"),
            (self.route.is_some(), "--route"),
            (self.phone_column.is_some(), "--phone-column"),
            (self.uid_column.is_some(), "--uid-column"),
            (self.region.is_some(), "--region"),
            (self.name.is_some(), "--name"),
            (self.clean_params, "--clean-params"),
            (self.allow_empty, "--allow-empty"),
            (self.smart_encoding, "--smart-encoding"),
            (self.delimiter.is_some(), "--delimiter"),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag))
    }

    pub fn definition(&self) -> anyhow::Result<Definition> {
        let is_toml = self
            .source
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
        let mut base = if is_toml {
            CampaignFile::read(&self.source)?
        } else {
            CampaignFile::default()
        };
        if let (true, Some(sql)) = (self.allow_writable_source, &mut base.sql) {
            sql.allow_writable = Some(true);
        }
        let flags = CampaignFile {
            name: self.name.clone(),
            channel: self.channel,
            bot_id: self.bot_id,
            template: self.template.clone(),
            language: self.language.clone(),
            params: self.params.clone(),
            message: self.message.clone(),
            route: self.route.clone(),
            phone_column: self.phone_column.clone(),
            uid_column: self.uid_column.clone(),
            region: self.region.clone(),
            clean_params: self.clean_params.then_some(true),
            allow_empty: self.allow_empty.then_some(true),
            smart_encoding: self.smart_encoding.then_some(true),
            delimiter: self.delimiter.clone(),
            csv: (!is_toml).then(|| self.source.clone()),
            ..Default::default()
        };
        Ok(base.with(flags)?)
    }
}

/// The API connection for a command: a client, and the in-process simulator if `--sim`.
pub struct Api {
    pub client: Option<Client>,
    pub sim: Option<RunningSim>,
}

impl Api {
    /// With `--sim`: a fresh simulator on a loopback port. Otherwise a client if a token and an
    /// API URL are configured; `required` makes their absence an error.
    pub async fn connect(
        global: &GlobalArgs,
        use_sim: bool,
        required: bool,
    ) -> anyhow::Result<Api> {
        if use_sim {
            return Api::simulated(global, vec![]).await;
        }
        if !global.has_token() && !required {
            return Ok(Api {
                client: None,
                sim: None,
            });
        }
        let token = global.token()?;
        let url = global
            .api_url
            .as_deref()
            .context("no API URL: pass --api-url or set CONVRS_API_URL (or use --sim)")?;
        let config = global.client_config(url);
        Ok(Api {
            client: Some(Client::new(&config, token)?),
            sim: None,
        })
    }

    /// A rehearsal's simulator, remembering what earlier rehearsals in `store` sent and still
    /// follow (their acks, their recipients' replies), so that they can be tracked.
    pub async fn rehearsal(global: &GlobalArgs, store: &Store) -> anyhow::Result<Api> {
        let earlier = store
            .earlier_sends()
            .await?
            .into_iter()
            .map(|(mid, uid, sent_ms)| EarlierSend {
                mid,
                uid,
                accepted_at: chrono::DateTime::from_timestamp_millis(sent_ms).unwrap_or_default(),
            })
            .collect();
        Api::simulated(global, earlier).await
    }

    /// A fresh simulator on a loopback port.
    async fn simulated(global: &GlobalArgs, earlier: Vec<EarlierSend>) -> anyhow::Result<Api> {
        // One token for every rehearsal: a rehearsal campaign resumed keeps its token's
        // fingerprint (and its lease and limits) as a real one does.
        let token = REHEARSAL_TOKEN.to_string();
        let config = SimConfig {
            tokens: vec![token.clone()],
            ack_delay: REHEARSAL_ACK_DELAY,
            earlier,
            ..SimConfig::default()
        };
        let running = sim::start("127.0.0.1:0".parse()?, config)
            .await
            .context("cannot start the simulator")?;
        let config = ClientConfig {
            timeout: global.request_timeout,
            ..ClientConfig::new(running.url())
        };
        let client = Client::new(&config, token.into())?;
        Ok(Api {
            client: Some(client),
            sim: Some(running),
        })
    }

    pub async fn close(self) -> anyhow::Result<()> {
        if let Some(sim) = self.sim {
            sim.stop().await?;
        }
        Ok(())
    }
}

/// The time between two acks of a message on a rehearsal's simulator.
const REHEARSAL_ACK_DELAY: std::time::Duration = std::time::Duration::from_millis(300);

/// How long after a send a rehearsal's simulator may still change its acks: its longest plan
/// has five (a reply last, four steps after the send), with room to spare. An answer after
/// that is the message's last.
pub const REHEARSAL_SETTLED: std::time::Duration = std::time::Duration::from_secs(3);

/// The in-process simulator's token (a rehearsal's database never holds a real one).
const REHEARSAL_TOKEN: &str = "sim-rehearsal";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rehearsals_acks_have_settled_when_it_says_they_have() {
        let longest = ["1", "7", "8", "9", "0"]
            .into_iter()
            .flat_map(|d| {
                [
                    sim::ack_plan(sim::Channel::WhatsApp, d),
                    sim::ack_plan(sim::Channel::Sms, d),
                ]
            })
            .map(<[i64]>::len)
            .max()
            .unwrap();
        let last_ack = REHEARSAL_ACK_DELAY * (longest as u32 - 1);
        assert!(REHEARSAL_SETTLED > last_ack * 2, "{last_ack:?}");
    }
}
