//! What makes two runs the same campaign. A campaign is known by its **name** (`--name`, the
//! campaign file's `name`, else the file's name); its **settings** are everything that decides
//! who gets what: channel, bot, template or text, columns, region, dedupe key, and the kind of
//! source with its query. Where a CSV file lives, and the credentials of a SQL source, are
//! neither: a moved file or a changed password is the same campaign. No password is ever part
//! of the settings, which are stored with the campaign.
//!
//! A run whose name matches a campaign with other settings stops before anything is sent,
//! names the campaign and every difference, and goes on only with `--resume` (that campaign,
//! with the new settings from now on) or `--new` (a new campaign of the same name, skipping
//! recipients an earlier one already reached unless `--include-reached`).

use std::collections::BTreeMap;

use super::definition::{Definition, MessageSpec, Source};
use super::load::Summary;
use super::{LoadError, LoadOptions, Loaded};
use crate::queue::{CampaignId, CampaignKey, Store};
use crate::redact::url as redact_url;

/// A campaign's settings, by name; values as shown to the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings(BTreeMap<String, String>);

/// How a value is shown: quoted text, or `(none)`.
fn shown(value: Option<&str>) -> String {
    value.map_or_else(|| "(none)".to_string(), |v| format!("{v:?}"))
}

impl Settings {
    pub fn of(def: &Definition) -> Self {
        let mut s = BTreeMap::new();
        let mut put = |key: &str, value: String| {
            s.insert(key.to_string(), value);
        };
        put("channel", shown(Some(def.channel().as_str())));
        put("bot", def.bot_id.to_string());
        match &def.message {
            MessageSpec::Template {
                name,
                language,
                params,
                clean_params,
            } => {
                put("template", shown(Some(name)));
                put("language", shown(Some(language)));
                put("params", shown(Some(&params.join(","))));
                put("clean_params", clean_params.to_string());
            }
            MessageSpec::Sms {
                text,
                allow_empty,
                smart_encoding,
            } => {
                put("message", shown(Some(text)));
                // Only when set, so campaigns stored before they existed keep their settings.
                if *allow_empty {
                    put("allow_empty", "true".into());
                }
                if *smart_encoding {
                    put("smart_encoding", "true".into());
                }
            }
            MessageSpec::Route {
                route,
                text,
                userdata,
                allow_empty,
                via,
            } => {
                put("route", shown(Some(route)));
                put("message", shown(text.as_deref()));
                let data: Vec<String> = userdata.iter().map(|(k, v)| format!("{k}={v}")).collect();
                put("userdata", shown(Some(&data.join(","))));
                put("route_via", shown(via.map(|v| v.as_str())));
                if *allow_empty {
                    put("allow_empty", "true".into());
                }
            }
            MessageSpec::Text(spec) => {
                put("message", shown(Some(&spec.text)));
                put("uid_column", shown(spec.uid_column.as_deref()));
                put("window_margin", format!("{} ms", spec.margin_ms));
                if spec.allow_empty {
                    put("allow_empty", "true".into());
                }
            }
        }
        // Only when set, so campaigns stored before it existed keep their settings.
        if let Some(after) = &def.after_send {
            put(
                "after_send",
                serde_json::to_string(after).expect("after_send serialises"),
            );
        }
        put("phone_column", shown(Some(&def.phone_column)));
        put("region", shown(def.region.map(|r| r.code()).as_deref()));
        put("dedupe_key", shown(def.dedupe_key.as_deref()));
        match &def.source {
            Source::Csv(_) => put("source", shown(Some("csv"))),
            Source::Sql { url, query, .. } => {
                put("source", shown(Some("sql")));
                put("sql.url", shown(Some(&redact_url(url))));
                put("sql.query", shown(Some(query.trim())));
            }
            Source::ConvrsUsers {
                bot_id,
                created_after,
            } => {
                put("source", shown(Some("convrs_users")));
                put("convrs_users.bot_id", bot_id.to_string());
                put(
                    "convrs_users.created_after",
                    shown(created_after.as_deref()),
                );
            }
        }
        Settings(s)
    }

    /// As stored with the campaign (a JSON object).
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).expect("settings serialise")
    }

    /// Settings as stored; `None` for what an older version stored (a whole definition).
    pub fn from_json(json: &str) -> Option<Self> {
        let map: BTreeMap<String, serde_json::Value> = serde_json::from_str(json).ok()?;
        map.into_iter()
            .map(|(k, v)| Some((k, v.as_str()?.to_string())))
            .collect::<Option<_>>()
            .map(Settings)
    }

    /// The uid of `phone` (E.164) on a route campaign whose operator named the channel the
    /// route answers on (`route_via`), through the campaign's bot; `None` otherwise.
    pub fn route_uid(&self, phone: &str) -> Option<String> {
        let tag = match self.0.get("route_via")?.as_str() {
            "\"whatsapp\"" => "wa3",
            "\"sms\"" => "cms",
            _ => return None,
        };
        let bot = self.0.get("bot")?;
        Some(crate::convrs::uid_of_number(bot.parse().ok()?, tag, phone))
    }

    /// A short stable digest, to find campaigns with these settings.
    pub fn fingerprint(&self) -> String {
        format!(
            "{:016x}",
            crate::fingerprint::fnv1a64(self.to_json().as_bytes())
        )
    }

    /// Every setting that differs, as `key: old → new`.
    pub fn differences(&self, earlier: &Settings) -> Vec<String> {
        let keys: std::collections::BTreeSet<&String> =
            self.0.keys().chain(earlier.0.keys()).collect();
        let none = "(none)".to_string();
        keys.into_iter()
            .filter_map(|k| {
                let (old, new) = (
                    earlier.0.get(k).unwrap_or(&none),
                    self.0.get(k).unwrap_or(&none),
                );
                (old != new).then(|| format!("{k}: {old} → {new}"))
            })
            .collect()
    }
}

/// The campaign a definition loads into (created if new), as a run would find it; a changed
/// definition is taken as the campaign's from now on (a scheduled campaign's file was edited).
pub async fn campaign_of(store: &Store, def: &Definition) -> Result<CampaignId, LoadError> {
    let opts = LoadOptions {
        resume: true,
        ..LoadOptions::default()
    };
    campaign_for(store, def, &opts).await
}

/// The campaign this run loads into: the newest of its name if the settings are the same (or
/// the operator said `--resume`), a new one if there is none (or with `--new`); otherwise the
/// run stops, naming every difference.
pub(super) async fn campaign_for(
    store: &Store,
    def: &Definition,
    opts: &LoadOptions,
) -> Result<CampaignId, LoadError> {
    let settings = Settings::of(def);
    let (json, fingerprint) = (settings.to_json(), settings.fingerprint());
    let earlier = store.latest_campaign_named(&def.name).await?;
    if let (Some((id, stored)), false) = (&earlier, opts.new) {
        let before = Settings::from_json(stored);
        if before.as_ref() == Some(&settings) {
            return Ok(*id);
        }
        if opts.resume {
            store
                .update_campaign_settings(*id, &fingerprint, &json)
                .await?;
            return Ok(*id);
        }
        let differences = before.map_or_else(
            || vec!["(recorded by an older version of campaign)".to_string()],
            |b| settings.differences(&b),
        );
        return Err(LoadError::SettingsChanged {
            campaign: *id,
            name: def.name.clone(),
            differences,
        });
    }
    let key = CampaignKey {
        name: &def.name,
        fingerprint: &fingerprint,
        channel: def.channel().as_str(),
        bot_id: def.bot_id,
        definition: &json,
    };
    let skip_reached = earlier.is_some() && !opts.include_reached;
    Ok(store.create_campaign(&key, skip_reached).await?)
}

/// Identifies a CSV file's content cheaply (path, size, modification time); other sources
/// are read again on every run, since a query can return new rows.
pub(super) fn source_stamp(def: &Definition) -> Option<String> {
    let Source::Csv(path) = &def.source else {
        return None;
    };
    let meta = std::fs::metadata(path).ok()?;
    let modified = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some(format!(
        "{}:{}:{}",
        path.display(),
        meta.len(),
        modified.as_nanos()
    ))
}

/// The earlier load's result, if this campaign already loaded exactly this file.
pub(super) async fn unchanged_since_last_load(
    store: &Store,
    def: &Definition,
    stamp: &str,
) -> Result<Option<Loaded>, LoadError> {
    let Some((id, stored)) = store.latest_campaign_named(&def.name).await? else {
        return Ok(None);
    };
    if Settings::from_json(&stored) != Some(Settings::of(def)) {
        return Ok(None);
    }
    let Some((recorded, summary)) = store.load_record(id).await? else {
        return Ok(None);
    };
    if recorded != stamp {
        return Ok(None);
    }
    let Ok(mut summary) = serde_json::from_str::<Summary>(&summary) else {
        return Ok(None);
    };
    summary.already_queued = Some(summary.valid);
    summary.unchanged = true;
    summary.rejects = store.rejects(id).await?;
    Ok(Some(Loaded {
        campaign: Some(id),
        summary,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::definition::{CampaignFile, SqlSource};

    fn def(tweak: impl FnOnce(&mut CampaignFile)) -> Definition {
        let mut file = CampaignFile {
            bot_id: Some(3941),
            template: Some("order_confirmation".into()),
            language: Some("en".into()),
            params: Some(vec!["name".into(), "order".into()]),
            region: Some("GB".into()),
            csv: Some("/data/customers.csv".into()),
            ..Default::default()
        };
        tweak(&mut file);
        file.with(CampaignFile::default()).unwrap()
    }

    #[test]
    fn where_the_file_lives_is_not_a_setting() {
        let moved = def(|f| f.csv = Some("/elsewhere/customers.csv".into()));
        assert_eq!(Settings::of(&def(|_| {})), Settings::of(&moved));
        assert_eq!(moved.name, "customers");
    }

    #[test]
    fn a_changed_flag_is_named_with_its_old_and_new_value() {
        let before = Settings::of(&def(|_| {}));
        let after = Settings::of(&def(|f| f.region = None));
        assert_eq!(after.differences(&before), ["region: \"GB\" → (none)"]);
        assert_eq!(Settings::from_json(&before.to_json()), Some(before));
    }

    #[test]
    fn a_sql_sources_password_is_neither_a_setting_nor_stored() {
        let sql = |url: &str| {
            def(|f| {
                f.csv = None;
                f.name = Some("crm".into());
                f.sql = Some(SqlSource {
                    url: url.into(),
                    query: "SELECT phone FROM c".into(),
                    allow_writable: None,
                });
            })
        };
        let a = Settings::of(&sql("postgres://app:first-secret@db/crm"));
        let b = Settings::of(&sql("postgres://app:second-secret@db/crm"));
        assert_eq!(a, b);
        assert!(!a.to_json().contains("secret"), "{}", a.to_json());
    }
}
