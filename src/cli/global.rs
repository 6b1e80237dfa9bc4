//! The options about where things are: the database, the API and its token. Each command takes
//! the groups that apply to it (`sim` takes none), and they are gathered into one
//! [`GlobalArgs`] for the command to use. Environment variables are read here rather than by
//! clap, so a variable that is set is not shown in usage lines as if it were a flag given.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use secrecy::SecretString;

use crate::queue::{Purpose, Store, StoreOptions};

/// Where the campaigns are kept.
#[derive(Debug, Default, Args)]
pub struct DbArg {
    /// The campaign database: a SQLite path or sqlite:// URL, or a postgres:// URL (several
    /// workers sharing one queue) [env: CAMPAIGN_DB] [default: campaign.db, or campaign.sim.db
    /// for rehearsals (--sim)]
    #[arg(long, value_name = "PATH|URL", global = true)]
    pub db: Option<String>,
}

/// The API token.
#[derive(Debug, Default, Args)]
pub struct TokenArgs {
    /// Read the API token from this file [default: the CONVRS_TOKEN environment variable].
    /// `campaign worker` takes it several times, one file per token.
    #[arg(long, value_name = "PATH", action = clap::ArgAction::Append)]
    pub token_file: Vec<PathBuf>,
}

/// How to reach the API.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The Convrs API endpoint, the HTTPS URL shown under Integrations > Convrs API
    /// [env: CONVRS_API_URL]
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    #[command(flatten)]
    pub token: TokenArgs,
    /// How long one API request may take before the client gives up (1s to 10m)
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = request_timeout)]
    pub request_timeout: std::time::Duration,
    /// Accept a plain http:// API URL that is not on this machine: the token then crosses the
    /// network unencrypted (https is refused nowhere; http on loopback needs no flag).
    #[arg(long)]
    pub allow_insecure_http: bool,
}

/// The options of the command that runs, with the environment and defaults applied.
#[derive(Debug)]
pub struct GlobalArgs {
    pub api_url: Option<String>,
    pub token_file: Vec<PathBuf>,
    pub db: Option<String>,
    pub request_timeout: std::time::Duration,
    pub allow_insecure_http: bool,
}

/// An environment variable that is set and not empty.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl GlobalArgs {
    /// A command that uses only the database.
    pub fn with_db(db: &DbArg) -> GlobalArgs {
        GlobalArgs {
            api_url: None,
            token_file: vec![],
            db: db.db.clone().or_else(|| env("CAMPAIGN_DB")),
            request_timeout: std::time::Duration::from_secs(30),
            allow_insecure_http: false,
        }
    }

    /// ... and the token.
    pub fn and_token(mut self, token: &TokenArgs) -> GlobalArgs {
        self.token_file = token.token_file.clone();
        self
    }

    /// ... and the API.
    pub fn and_api(self, api: &ApiArgs) -> GlobalArgs {
        GlobalArgs {
            api_url: api.api_url.clone().or_else(|| env("CONVRS_API_URL")),
            request_timeout: api.request_timeout,
            allow_insecure_http: api.allow_insecure_http,
            ..self.and_token(&api.token)
        }
    }
}

fn request_timeout(s: &str) -> Result<std::time::Duration, String> {
    let d = super::flags::parse_duration(s)?;
    if (std::time::Duration::from_secs(1)..=std::time::Duration::from_secs(600)).contains(&d) {
        Ok(d)
    } else {
        Err(format!("'{s}' is not between 1s and 10m"))
    }
}

/// Whether `db` names a SQLite file that does not exist (opening it would create it).
pub fn missing(db: &str) -> bool {
    let path = db
        .strip_prefix("sqlite://")
        .or_else(|| db.strip_prefix("sqlite:"))
        .map_or(db, |p| p.split('?').next().unwrap_or(p));
    let is_file = !db.contains("://") || db.starts_with("sqlite:");
    is_file && path != ":memory:" && !std::path::Path::new(path).exists()
}

/// The database of real sends, unless `--db` names another.
pub const DEFAULT_DB: &str = "campaign.db";
/// The database of rehearsals (`--sim`), unless `--db` names another.
pub const DEFAULT_SIM_DB: &str = "campaign.sim.db";

impl GlobalArgs {
    /// Opens the database for `purpose`: `--db` (or `CAMPAIGN_DB`) if given, else the default
    /// for that purpose. A rehearsal and real sending never share a database.
    pub async fn store(&self, purpose: Purpose) -> anyhow::Result<Store> {
        let db = match (&self.db, purpose) {
            (Some(db), _) => db.as_str(),
            (None, Purpose::Rehearsal) => DEFAULT_SIM_DB,
            (None, _) => DEFAULT_DB,
        };
        let options = StoreOptions {
            purpose,
            ..StoreOptions::default()
        };
        Ok(Store::open_with(db, &options).await?)
    }

    /// The database to read, if there is one: commands that only look (`status`, `list`,
    /// `report`...) never create one. `None` when the file does not exist.
    pub async fn existing_store(&self) -> anyhow::Result<Option<Store>> {
        if missing(self.db.as_deref().unwrap_or(DEFAULT_DB)) {
            return Ok(None);
        }
        Ok(Some(self.store(Purpose::Any).await?))
    }

    /// `existing_store`, or an error saying there is no database to look in.
    pub async fn store_to_read(&self) -> anyhow::Result<Store> {
        match self.existing_store().await? {
            Some(store) => Ok(store),
            None => anyhow::bail!("{}", self.no_database()),
        }
    }

    /// "no campaigns here: ...", for when the database does not exist.
    pub fn no_database(&self) -> String {
        let db = self.db.as_deref().unwrap_or(DEFAULT_DB);
        // Only rehearsals ran here: say where they are.
        let rehearsals = if self.db.is_none() && std::path::Path::new(DEFAULT_SIM_DB).exists() {
            format!(
                "; the rehearsals (--sim) are in {DEFAULT_SIM_DB}: add --db {DEFAULT_SIM_DB} to look at them"
            )
        } else {
            String::new()
        };
        format!(
            "no campaigns here: there is no database {db} (run a campaign first, or name the database with --db or CAMPAIGN_DB){rehearsals}"
        )
    }

    /// How the client reaches the API at `url`, with this command's options.
    pub fn client_config(&self, url: &str) -> crate::convrs::ClientConfig {
        crate::convrs::ClientConfig {
            timeout: self.request_timeout,
            allow_insecure_http: self.allow_insecure_http,
            ..crate::convrs::ClientConfig::new(url)
        }
    }

    /// The API token, from `--token-file` or `CONVRS_TOKEN`. Never echoed.
    pub fn token(&self) -> anyhow::Result<SecretString> {
        match self.tokens()?.as_slice() {
            [one] => Ok(one.clone()),
            _ => anyhow::bail!(
                "--token-file is given {} times: only `campaign worker` sends on several tokens",
                self.token_file.len()
            ),
        }
    }

    /// Whether a token is configured at all.
    pub fn has_token(&self) -> bool {
        !self.token_file.is_empty() || std::env::var_os("CONVRS_TOKEN").is_some()
    }

    /// Every token given: one per `--token-file`, else `CONVRS_TOKEN`. Never echoed.
    pub fn tokens(&self) -> anyhow::Result<Vec<SecretString>> {
        let raw: Vec<(String, String)> = if self.token_file.is_empty() {
            let token = std::env::var("CONVRS_TOKEN").map_err(|_| {
                anyhow::anyhow!(
                    "no API token: set CONVRS_TOKEN or pass --token-file PATH (`run --sim` needs none)"
                )
            })?;
            vec![("CONVRS_TOKEN".to_string(), token)]
        } else {
            self.token_file
                .iter()
                .map(|path| {
                    let shown = crate::terminal::safe(&path.to_string_lossy()).into_owned();
                    crate::files::check_not_open_to_others(path, "the API token")?;
                    std::fs::read_to_string(path)
                        .map(|t| (shown.clone(), t))
                        .with_context(|| format!("cannot read the token file {shown}"))
                })
                .collect::<anyhow::Result<_>>()?
        };
        raw.into_iter()
            .map(|(from, token)| {
                let token = token.trim();
                anyhow::ensure!(!token.is_empty(), "the API token in {from} is empty");
                Ok(SecretString::from(token.to_string()))
            })
            .collect()
    }
}
