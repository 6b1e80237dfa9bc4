//! `campaign clear-token-stop`: after the cause is fixed (a reset token, a lifted block), let
//! campaigns send with the token again.

use std::process::ExitCode;

use super::GlobalArgs;
use crate::queue::Purpose;

#[derive(Debug, clap::Args)]
pub struct ClearArgs {
    #[command(flatten)]
    pub db: super::DbArg,
    #[command(flatten)]
    pub token: super::TokenArgs,
}

pub async fn clear(global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let store = global.store(Purpose::Any).await?;
    let fingerprint = crate::convrs::client::token_fingerprint(&global.token()?);
    if store.clear_token_stop(&fingerprint).await? {
        crate::show!("the token ({fingerprint}) may send again");
    } else {
        crate::show!("the token ({fingerprint}) was not stopped");
    }
    Ok(ExitCode::SUCCESS)
}
