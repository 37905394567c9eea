//! The first-run setup's HTML: `/` while no App is configured (what is
//! missing, and the way into the setup) and `/setup` itself (create the App
//! from the manifest, or import one). Words come from `report::text::setup`.

use maud::{Markup, html};

use super::render::{Chrome, layout};
use crate::report::text::setup as text;

/// `/` before the App is configured.
pub fn welcome(missing: &[&str], env_file: &str) -> Markup {
    layout(
        text::TITLE,
        &Chrome::default(),
        html! {
            h1 { (text::TITLE) }
            p { (text::INTRO) " " code { (env_file) } " " (text::INTRO_AFTER) }
            p { a.button #start-setup href="/setup" { (text::START) } }
            p { (text::MISSING) }
            ul { @for m in missing { li { code { (m) } } } }
        },
    )
}

/// The create form: where it posts, the manifest, and whose App it makes.
pub struct CreateForm {
    pub action: String,
    pub manifest: String,
    pub org: Option<String>,
}

/// What `/setup` shows.
pub struct SetupView<'a> {
    pub public_url: &'a str,
    pub env_file: &'a str,
    /// `Err(why)`: no App can be created for this instance.
    pub create: Result<CreateForm, String>,
    /// The import form's one-time token.
    pub import_token: &'a str,
    /// What went wrong with the last attempt.
    pub error: Option<&'a str>,
}

pub fn setup(view: &SetupView) -> Markup {
    layout(
        text::TITLE,
        &Chrome::default(),
        html! {
            h1 { (text::TITLE) }
            p { (text::INTRO) " " code { (view.env_file) } " " (text::INTRO_AFTER) }
            @if let Some(error) = view.error { p.error #setup-error { (error) } }
            h2 { (text::CREATE_TITLE) }
            @match &view.create {
                Err(why) => { p.error #unreachable { (why) } }
                Ok(form) => {
                    p { (text::create_intro(view.public_url)) }
                    form.filter method="get" action="/setup" {
                        label { (text::OWNER_LABEL) " "
                            input type="text" name="org" placeholder=(text::OWNER_PLACEHOLDER) value=[form.org.as_deref()]; }
                        button type="submit" { (text::OWNER_BUTTON) }
                    }
                    p { (text::owner_is(form.org.as_deref())) }
                    form #create-app method="post" action=(form.action) {
                        input type="hidden" name="manifest" value=(form.manifest);
                        button type="submit" { (text::CREATE_BUTTON) }
                    }
                }
            }
            h2 { (text::IMPORT_TITLE) }
            p { (text::IMPORT_INTRO) }
            form #import-app method="post" action="/setup/import" {
                input type="hidden" name="state" value=(view.import_token);
                p { label { (text::IMPORT_ID) " " input type="text" name="app_id" inputmode="numeric" required; } }
                p { label { (text::IMPORT_KEY) br; textarea name="private_key" rows="8" cols="66" required {} } }
                p { label { (text::IMPORT_SECRET) " " input type="password" name="webhook_secret" autocomplete="off" required; } }
                p { label { (text::IMPORT_CLIENT_ID) " " input type="text" name="client_id"; } }
                p { label { (text::IMPORT_CLIENT_SECRET) " " input type="password" name="client_secret" autocomplete="off"; } }
                button type="submit" { (text::IMPORT_BUTTON) }
            }
        },
    )
}
