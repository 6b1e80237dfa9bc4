//! A campaign's WhatsApp template: from the store's cache, or (once) from GetWhatsAppTemplate,
//! with close names among those seen when the API knows none of that name.

use super::LoadError;
use super::definition::{Definition, MessageSpec};
use super::template_names;
use crate::convrs::wire::{GetWhatsAppTemplate, Template};
use crate::convrs::{CallError, Client, ErrorCode};
use crate::queue::Store;

/// The template, from the cache or (once) from GetWhatsAppTemplate.
pub async fn template(
    store: &Store,
    client: Option<&Client>,
    def: &Definition,
) -> Result<Option<Template>, LoadError> {
    let MessageSpec::Template { name, language, .. } = &def.message else {
        return Ok(None);
    };
    let fail = |message: String| LoadError::Template {
        name: name.clone(),
        language: language.clone(),
        bot_id: def.bot_id,
        message,
    };
    if let Some(json) = store.cached_template(def.bot_id, name, language).await? {
        let template: Template =
            serde_json::from_str(&json).map_err(|e| fail(format!("bad cached copy: {e}")))?;
        return Ok(Some(template));
    }
    let client = client.ok_or_else(|| {
        fail("not cached yet, and no API to fetch it from: set CONVRS_TOKEN or use --sim".into())
    })?;
    let request = GetWhatsAppTemplate {
        bot_id: def.bot_id,
        template_name: name.clone(),
        language: language.clone(),
    };
    let template = match client.get_whatsapp_template(&request).await {
        Ok(template) => template,
        Err(
            e @ CallError::Api {
                code: ErrorCode::UnknownTemplate | ErrorCode::NoTemplates,
                ..
            },
        ) => {
            let close = template_names::close_to(store, name, language, def.bot_id).await?;
            return Err(fail(format!("does not exist ({e}){close}")));
        }
        Err(other) => return Err(fail(format!("cannot fetch it: {other}"))),
    };
    store
        .cache_template(
            def.bot_id,
            name,
            language,
            &serde_json::to_string(&template).expect("templates serialise"),
        )
        .await?;
    Ok(Some(template))
}
