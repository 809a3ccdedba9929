//! Accounts: sign-up, the signed-in account with its settings, profile updates, lookups, and the
//! pages of followers, following and follow requests.

use tusk_cache::EntityKind;
use tusk_core::{
    DisplayName, Email, Event, FieldError, Id, Locale, Note, Password, Registrations, Username,
    ValidationErrors, Visibility, token,
};
use tusk_store::{AccountList, AccountRow, NewUser, ProfileUpdate, StoreError, TokenRow, UserSettings};
use tusk_telemetry::SignupOutcome;

use crate::{Result, Service, ServiceError};

/// A sign-up, every field validated.
pub struct NewAccount {
    pub username: Username,
    pub email: Email,
    pub password: Password,
    pub locale: Option<String>,
}

/// The signed-in account with what only its owner sees (Mastodon's CredentialAccount `source`).
pub struct CredentialAccount {
    pub account: AccountRow,
    pub settings: UserSettings,
    pub follow_requests: i64,
}

/// A profile change, every field validated; `None` leaves a field as it is.
pub struct NewProfile {
    pub display_name: Option<DisplayName>,
    pub note: Option<Note>,
    pub locked: Option<bool>,
    /// The posting defaults (`source[privacy]`, never `Direct`, `source[sensitive]`,
    /// `source[language]`).
    pub privacy: Option<Visibility>,
    pub sensitive: Option<bool>,
    pub language: Option<Locale>,
}

/// One page of accounts, newest first, each with the id of the follow or request it is cut by.
pub type AccountPage = Vec<(Id, AccountRow)>;

/// A page cut by follow (or request) ids, as Mastodon pages followers.
#[derive(Clone, Copy, Debug)]
pub struct PageCut {
    pub max_id: Option<Id>,
    pub since_id: Option<Id>,
    pub limit: i64,
}

impl Service {
    /// Signs a user up through the app of `app_token`, and answers with the user's first token
    /// (its row and the secret, shown this once). `new` is the sign-up as the edge validated
    /// it: invalid ones are counted in `tusk_signups_total` too.
    pub async fn sign_up(
        &self,
        app_token: &TokenRow,
        new: Result<NewAccount, ValidationErrors>,
    ) -> Result<(TokenRow, String)> {
        // Mastodon answers a closed server's sign-up with its generic 403
        if self.0.registrations == Registrations::Closed {
            return Err(ServiceError::Forbidden);
        }
        let outcome = match new {
            Ok(new) => self.create_user(app_token, new).await,
            Err(errors) => Err(ServiceError::Validation(errors)),
        };
        let label = match &outcome {
            Ok(_) => SignupOutcome::Created,
            Err(ServiceError::Validation(_)) => SignupOutcome::Invalid,
            Err(_) => SignupOutcome::Error,
        };
        self.metrics().signups(label).inc();
        outcome
    }

    async fn create_user(&self, app_token: &TokenRow, new: NewAccount) -> Result<(TokenRow, String)> {
        // checked before hashing, so that a taken name costs no argon2 run
        let conflicts = self.store().signup_conflicts(&new.username, &new.email).await?;
        if conflicts.username_taken || conflicts.email_taken {
            let mut errors = ValidationErrors::default();
            if conflicts.username_taken {
                errors.add("username", FieldError::taken());
            }
            if conflicts.email_taken {
                errors.add("email", FieldError::taken());
            }
            return Err(ServiceError::Validation(errors));
        }
        let password_hash = self.0.passwords.hash(new.password).await?;
        let access_token = token::generate();
        let created = self
            .store()
            .create_user(&NewUser {
                username: &new.username,
                email: &new.email,
                password_hash: &password_hash,
                locale: new.locale.as_deref(),
                application_id: app_token.application_id,
                scopes: &app_token.scopes,
                token_hash: &token::digest(&access_token),
                approved: !self.0.registrations.approval_required(),
            })
            .await;
        match created {
            Ok((account_id, token_row)) => {
                // the account id only: never the email, the password or the token
                tracing::info!(%account_id, "account created");
                Ok((token_row, access_token))
            }
            // a concurrent sign-up took the name or address between the check and the insert
            Err(StoreError::Conflict(constraint)) => {
                let mut errors = ValidationErrors::default();
                errors.add(
                    if constraint.contains("email") { "email" } else { "username" },
                    FieldError::taken(),
                );
                Err(ServiceError::Validation(errors))
            }
            Err(other) => Err(other.into()),
        }
    }

    /// The signed-in account, fresh from PostgreSQL, with its settings.
    pub async fn credential_account(&self, me: Id) -> Result<CredentialAccount> {
        let (account, settings, follow_requests) = tokio::try_join!(
            self.store().account(me),
            self.store().user_settings(me),
            self.store().follow_requests_count(me)
        )?;
        Ok(CredentialAccount { account, settings, follow_requests })
    }

    /// `me`'s settings (`/api/v1/preferences`).
    pub async fn settings(&self, me: Id) -> Result<UserSettings> {
        Ok(self.store().user_settings(me).await?)
    }

    /// Changes `me`'s profile and posting defaults. Unlocking lets everyone who asked in, as Mastodon does.
    pub async fn update_profile(&self, me: Id, profile: NewProfile) -> Result<CredentialAccount> {
        let update = ProfileUpdate {
            display_name: profile.display_name.as_ref(),
            note: profile.note.as_ref(),
            locked: profile.locked,
            default_privacy: profile.privacy,
            default_sensitive: profile.sensitive,
            default_language: profile.language.as_ref(),
        };
        self.store().update_profile(me, &update).await?;
        let accepted = if profile.locked == Some(false) {
            self.store().authorize_all_follow_requests(me).await?
        } else {
            Vec::new()
        };
        let mut moved = vec![me];
        moved.extend(accepted.iter().filter_map(|entry| match entry.event {
            Event::FollowCreated { account_id, .. } => Some(account_id),
            _ => None,
        }));
        self.forget(EntityKind::Account, &moved).await;
        self.forget_relationships(&moved).await;
        for event in accepted {
            self.publish(event).await;
        }
        self.credential_account(me).await
    }

    /// The local account named `username` (case-insensitively).
    pub async fn account_by_username(&self, username: &str) -> Result<AccountRow> {
        let id = self.store().account_id_by_username(username).await?.ok_or(ServiceError::NotFound)?;
        self.load_account(id).await
    }

    /// A page of `account`'s `list`, newest first. An account that blocks the viewer hides its
    /// follows from it, as in Mastodon; its blocks and mutes are its owner's alone.
    pub async fn account_list(
        &self,
        viewer: Option<Id>,
        account: Id,
        list: AccountList,
        cut: PageCut,
    ) -> Result<AccountPage> {
        if matches!(list, AccountList::Blocked | AccountList::Muted) && viewer != Some(account) {
            return Err(ServiceError::Forbidden);
        }
        let page = self.store().account_list_page(account, list, cut.max_id, cut.since_id, cut.limit).await?;
        if let Some(viewer) = viewer
            && viewer != account
            && self.store().relationship(viewer, account).await?.blocked_by
        {
            return Ok(Vec::new());
        }
        self.with_accounts(&page).await
    }

    /// A page of the accounts asking to follow `me`, newest request first.
    pub async fn follow_requests(&self, me: Id, cut: PageCut) -> Result<AccountPage> {
        let page = self.store().follow_request_page(me, cut.max_id, cut.since_id, cut.limit).await?;
        self.with_accounts(&page).await
    }

    /// `(cursor, account id)` pairs with their accounts, in order; accounts gone are left out.
    async fn with_accounts(&self, page: &[(Id, Id)]) -> Result<AccountPage> {
        let ids: Vec<Id> = page.iter().map(|(_, account)| *account).collect();
        let mut rows: std::collections::HashMap<Id, AccountRow> =
            self.load_accounts(&ids).await?.into_iter().map(|a| (a.id, a)).collect();
        Ok(page.iter().filter_map(|(cursor, account)| Some((*cursor, rows.remove(account)?))).collect())
    }
}
