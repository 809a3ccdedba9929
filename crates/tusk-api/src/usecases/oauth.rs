//! OAuth: registering apps, signing users in (passwords and browser sessions), and the codes of
//! the authorization code grant. Secrets are stored only as their sha256.

use tusk_core::{Id, Scopes, token};
use tusk_store::{AppRow, NewApp, NewGrant};

use crate::{ApiError, AppState};

/// An app to register, its input already validated.
pub(crate) struct AppRegistration<'a> {
    pub name: &'a str,
    pub website: Option<&'a str>,
    pub redirect_uris: &'a [String],
    pub scopes: &'a Scopes,
}

/// A code to issue for an authorization the user approved.
pub(crate) struct CodeGrant<'a> {
    pub app: Id,
    pub account: Id,
    pub redirect_uri: &'a str,
    pub scopes: &'a Scopes,
    /// PKCE's S256 challenge.
    pub code_challenge: Option<&'a str>,
}

impl AppState {
    /// Registers an app; answers with it and its client secret, shown this once.
    pub(crate) async fn register_app(&self, app: AppRegistration<'_>) -> Result<(AppRow, String), ApiError> {
        let client_id = token::generate();
        let client_secret = token::generate();
        let row = self
            .store
            .create_app(&NewApp {
                name: app.name,
                website: app.website,
                redirect_uris: &app.redirect_uris.join("\n"),
                scopes: &app.scopes.to_string(),
                client_id: &client_id,
                client_secret_hash: &token::digest(&client_secret),
            })
            .await?;
        Ok((row, client_secret))
    }

    pub(crate) async fn app_by_client_id(&self, client_id: &str) -> Result<Option<AppRow>, ApiError> {
        Ok(self.store.app_by_client_id(client_id).await?)
    }

    /// The account whose login (its email) and password these are, if they match.
    pub(crate) async fn check_password(&self, login: &str, password: String) -> Result<Option<Id>, ApiError> {
        let Some(credentials) = self.store.credentials(login.trim()).await? else { return Ok(None) };
        if password.is_empty() || !self.passwords.verify(password, credentials.password_hash).await? {
            return Ok(None);
        }
        Ok(Some(credentials.account_id))
    }

    /// Signs `account` in on a browser for `hours`; answers with the session cookie's secret.
    pub(crate) async fn start_browser_session(&self, account: Id, hours: i32) -> Result<String, ApiError> {
        let secret = token::generate();
        self.store.create_browser_session(&token::digest(&secret), account, hours).await?;
        Ok(secret)
    }

    /// The account signed in on the browser holding this session cookie, if any.
    pub(crate) async fn browser_session(&self, secret: &str) -> Result<Option<Id>, ApiError> {
        Ok(self.store.browser_session(&token::digest(secret)).await?)
    }

    pub(crate) async fn account_username(&self, account: Id) -> Result<Option<String>, ApiError> {
        Ok(self.store.account_username(account).await?)
    }

    /// Issues a code for an approved authorization: single use, for 10 minutes.
    pub(crate) async fn grant_code(&self, grant: CodeGrant<'_>) -> Result<String, ApiError> {
        let code = token::generate();
        self.store
            .create_grant(&NewGrant {
                code_hash: &token::digest(&code),
                application_id: grant.app,
                account_id: grant.account,
                redirect_uri: grant.redirect_uri,
                scopes: &grant.scopes.to_string(),
                code_challenge: grant.code_challenge,
            })
            .await?;
        Ok(code)
    }
}
