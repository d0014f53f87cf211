//! `--demo`: seeds a creator and a tracking link (once) and prints how to try the flow.

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::admin::{CreateCreator, CreateLink, CreateLinkError};
use crate::store::{new_id, now_ms};

/// Slug of the demo link.
pub const DEMO_SLUG: &str = "demo";
/// What loopback clicks are inferred as in demo mode.
pub const DEMO_COMPANY: &str = "Acme Corporation";
/// Its domain.
pub const DEMO_DOMAIN: &str = "acme.example";

/// Creates the demo creator and link unless a previous demo run already did.
pub async fn seed(state: &AppState) -> Result<(), ApiError> {
    if state.store.link_by_slug(DEMO_SLUG).await?.is_some() {
        return Ok(());
    }
    let now = now_ms();
    let creator = state
        .store
        .write(CreateCreator {
            id: new_id(),
            name: "Demo Creator".into(),
            linkedin_url: None,
            now,
        })
        .await?;
    let link = CreateLink {
        id: new_id(),
        slug: Some(DEMO_SLUG.into()),
        creator_id: creator.id,
        destination_url: format!("{}/demo/welcome", state.public_base),
        campaign: Some("demo".into()),
        now,
    };
    match state.store.write(link).await? {
        Ok(_) | Err(CreateLinkError::SlugTaken) => Ok(()),
        Err(CreateLinkError::UnknownCreator) => {
            Err(ApiError::Internal("demo creator vanished".into()))
        }
    }
}

/// The instructions printed at start.
pub fn instructions(public_base: &str, admin_token: &str) -> String {
    let link = format!("{public_base}/c/{DEMO_SLUG}");
    format!(
        "\nNaano demo is ready.\n\
         \n  1. Click the tracking link (browser): {link}\n\
         \x20    The landing page shows your session id and the webhook call to run.\n\
         \n  2. Or do it all from a terminal:\n\
         \x20    S=$(curl -s -o /dev/null -w '%{{redirect_url}}' {link} | sed 's/.*naano_session=//')\n\
         \x20    curl -s -X POST {public_base}/api/track/signup -H 'Content-Type: application/json' \\\n\
         \x20      -d '{{\"session_id\":\"'$S'\",\"email\":\"jane@acme.example\",\"company\":\"Acme Inc\"}}'\n\
         \x20    -> \"action\":\"upgraded\" (loopback clicks are inferred as {DEMO_COMPANY}).\n\
         \x20    Repeat with a new click and \"company\":\"Globex\" -> \"action\":\"mismatch_handled\".\n\
         \n  3. See the funnel:\n\
         \x20    curl -s -H 'Authorization: Bearer {admin_token}' {public_base}/api/admin/stats\n"
    )
}
