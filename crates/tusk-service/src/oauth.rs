//! OAuth: registering apps, signing users in (passwords and browser sessions), and the codes of
//! the authorization code grant. Secrets are stored only as their sha256.

use tusk_core::{Id, Scopes, token};
use tusk_store::{AppRow, NewApp, NewGrant, TokenRow};

use crate::{Result, Service};

/// An app to register, its input already validated.
pub struct AppRegistration<'a> {
    pub name: &'a str,
    pub website: Option<&'a str>,
    pub redirect_uris: &'a [String],
    pub scopes: &'a Scopes,
}

/// A code to issue for an authorization the user approved.
pub struct CodeGrant<'a> {
    pub app: Id,
    pub account: Id,
    pub redirect_uri: &'a str,
    pub scopes: &'a Scopes,
    /// PKCE's S256 challenge.
    pub code_challenge: Option<&'a str>,
}

impl Service {
    /// Registers an app; answers with it and its client secret, shown this once.
    pub async fn register_app(&self, app: AppRegistration<'_>) -> Result<(AppRow, String)> {
        let client_id = token::generate();
        let client_secret = token::generate();
        let row = self
            .store()
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

    pub async fn app_by_client_id(&self, client_id: &str) -> Result<Option<AppRow>> {
        Ok(self.store().app_by_client_id(client_id).await?)
    }

    /// The account whose login (its email) and password these are, if they match.
    pub async fn check_password(&self, login: &str, password: String) -> Result<Option<Id>> {
        let Some(credentials) = self.store().credentials(login.trim()).await? else { return Ok(None) };
        if password.is_empty() || !self.0.passwords.verify(password, credentials.password_hash).await? {
            return Ok(None);
        }
        Ok(Some(credentials.account_id))
    }

    /// Signs `account` in on a browser for `hours`; answers with the session cookie's secret.
    pub async fn start_browser_session(&self, account: Id, hours: i32) -> Result<String> {
        let secret = token::generate();
        self.store().create_browser_session(&token::digest(&secret), account, hours).await?;
        Ok(secret)
    }

    /// The account signed in on the browser holding this session cookie, if any.
    pub async fn browser_session(&self, secret: &str) -> Result<Option<Id>> {
        Ok(self.store().browser_session(&token::digest(secret)).await?)
    }

    pub async fn account_username(&self, account: Id) -> Result<Option<String>> {
        Ok(self.store().account_username(account).await?)
    }

    /// Issues a code for an approved authorization: single use, for 10 minutes.
    pub async fn grant_code(&self, grant: CodeGrant<'_>) -> Result<String> {
        let code = token::generate();
        self.store()
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

    /// Issues a token to `app` for `account` (none: the app's own token, for sign-ups) with
    /// `scopes`; answers with its row and its secret, shown this once.
    pub async fn issue_token(
        &self,
        app: Id,
        account: Option<Id>,
        scopes: &Scopes,
    ) -> Result<(TokenRow, String)> {
        let secret = token::generate();
        let row =
            self.store().create_token(app, account, &scopes.to_string(), &token::digest(&secret)).await?;
        Ok((row, secret))
    }

    /// Exchanges a code for a token (the `authorization_code` grant): the code is used up by the
    /// token it becomes, and only by the app it was issued to, with the same redirect URI and
    /// the PKCE verifier of its challenge. `None` for any other code.
    pub async fn redeem_code(
        &self,
        app: Id,
        code: &str,
        redirect_uri: &str,
        verifier: Option<&str>,
    ) -> Result<Option<(TokenRow, String)>> {
        let secret = token::generate();
        let redeemed = self
            .store()
            .redeem_grant(&token::digest(code), &token::digest(&secret), |grant| {
                let verifier_ok = match &grant.code_challenge {
                    None => true,
                    Some(challenge) => {
                        verifier.is_some_and(|verifier| token::pkce_s256(verifier) == *challenge)
                    }
                };
                if grant.application_id == app && grant.redirect_uri == redirect_uri && verifier_ok {
                    Ok(())
                } else {
                    Err(())
                }
            })
            .await?;
        Ok(redeemed.and_then(Result::ok).map(|row| (row, secret)))
    }
}
