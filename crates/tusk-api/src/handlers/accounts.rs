use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::Value;
use tusk_cache::EntityKind;
use tusk_core::{Email, FieldError, Id, Password, Username, ValidationErrors, token};
use tusk_store::{NewUser, OutboxEntry, StoreError};

use crate::entities::{self, Account};
use crate::extract::{Auth, Params, PathId, lenient};
use crate::{ApiError, AppState};

#[derive(Deserialize)]
pub struct SignUp {
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default, deserialize_with = "lenient::bool_opt")]
    agreement: Option<bool>,
    locale: Option<String>,
}

/// The sign-up, every field checked so that the client can show every problem at once.
struct ValidSignUp {
    username: Username,
    email: Email,
    password: Password,
}

fn validate(params: &SignUp) -> Result<ValidSignUp, ValidationErrors> {
    let mut errors = ValidationErrors::default();
    let username = errors.check("username", Username::parse(params.username.trim()));
    let email = errors.check("email", Email::parse(&params.email));
    let password = errors.check("password", Password::parse(&params.password));
    if params.agreement != Some(true) {
        errors.add("agreement", FieldError::accepted());
    }
    match (username, email, password) {
        (Some(username), Some(email), Some(password)) if errors.is_empty() => {
            Ok(ValidSignUp { username, email, password })
        }
        _ => Err(errors),
    }
}

/// `POST /api/v1/accounts`: sign-up with an app token; answers with the new user's token.
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Params(params): Params<SignUp>,
) -> Result<Json<Value>, ApiError> {
    let app_token = auth.token("write:accounts")?;
    let outcome = sign_up(&state, app_token, &params).await;
    let label = match &outcome {
        Ok(_) => "created",
        Err(ApiError::Validation(_)) => "invalid",
        Err(_) => "error",
    };
    state.metrics.signups_total.with_label_values(&[label]).inc();
    outcome
}

async fn sign_up(
    state: &AppState,
    app_token: &tusk_store::TokenRow,
    params: &SignUp,
) -> Result<Json<Value>, ApiError> {
    let new = validate(params).map_err(ApiError::Validation)?;
    // checked before hashing, so that a taken name costs no argon2 run
    let conflicts = state.store.signup_conflicts(&new.username, &new.email).await?;
    if conflicts.username_taken || conflicts.email_taken {
        let mut errors = ValidationErrors::default();
        if conflicts.username_taken {
            errors.add("username", FieldError::taken());
        }
        if conflicts.email_taken {
            errors.add("email", FieldError::taken());
        }
        return Err(ApiError::Validation(errors));
    }
    let password_hash = state.passwords.hash(new.password.clone()).await?;
    let access_token = token::generate();
    let created = state
        .store
        .create_user(&NewUser {
            username: &new.username,
            email: &new.email,
            password_hash: &password_hash,
            locale: params.locale.as_deref().filter(|l| !l.is_empty()),
            application_id: app_token.application_id,
            scopes: &app_token.scopes,
            token_hash: &token::digest(&access_token),
        })
        .await;
    match created {
        Ok((account_id, token_row)) => {
            // the account id only: never the email, the password or the token
            tracing::info!(%account_id, "account created");
            Ok(Json(entities::token(&token_row, &access_token)))
        }
        // a concurrent sign-up took the name or address between the check and the insert
        Err(StoreError::Conflict(constraint)) => {
            let mut errors = ValidationErrors::default();
            errors.add(if constraint.contains("email") { "email" } else { "username" }, FieldError::taken());
            Err(ApiError::Validation(errors))
        }
        Err(other) => Err(other.into()),
    }
}

/// `GET /api/v1/accounts/verify_credentials`.
pub async fn verify_credentials(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<Account>, ApiError> {
    let account_id = auth.user("read:accounts")?;
    let account = state.store.account(account_id).await?;
    let locale = state.store.user_locale(account_id).await?;
    Ok(Json(Account::new(&state.instance, &account).with_source(&account, locale.as_deref())))
}

/// `GET /api/v1/accounts/:id`.
pub async fn show(State(state): State<AppState>, PathId(id): PathId) -> Result<Json<Account>, ApiError> {
    let account = state.load_account(id).await?;
    Ok(Json(Account::new(&state.instance, &account)))
}

/// `POST /api/v1/accounts/:id/follow`.
pub async fn follow(
    State(state): State<AppState>,
    auth: Auth,
    PathId(target): PathId,
) -> Result<Json<Value>, ApiError> {
    let me = other_than_self(auth.user("write:follows")?, target)?;
    let events = state.store.follow(me, target).await?.into_iter().collect();
    settle(&state, me, target, events, true).await
}

/// `POST /api/v1/accounts/:id/unfollow`.
pub async fn unfollow(
    State(state): State<AppState>,
    auth: Auth,
    PathId(target): PathId,
) -> Result<Json<Value>, ApiError> {
    let me = auth.user("write:follows")?;
    let events = state.store.unfollow(me, target).await?.into_iter().collect();
    settle(&state, me, target, events, true).await
}

/// `POST /api/v1/accounts/:id/block`: ends the follows both ways; the workers clean both homes.
pub async fn block(
    State(state): State<AppState>,
    auth: Auth,
    PathId(target): PathId,
) -> Result<Json<Value>, ApiError> {
    let me = other_than_self(auth.user("write:blocks")?, target)?;
    let events = state.store.block(me, target).await?;
    settle(&state, me, target, events, true).await
}

/// `POST /api/v1/accounts/:id/unblock`.
pub async fn unblock(
    State(state): State<AppState>,
    auth: Auth,
    PathId(target): PathId,
) -> Result<Json<Value>, ApiError> {
    let me = auth.user("write:blocks")?;
    state.store.unblock(me, target).await?;
    settle(&state, me, target, Vec::new(), false).await
}

/// `POST /api/v1/accounts/:id/mute`: the account's statuses leave the home feed, and later ones
/// are not delivered there.
pub async fn mute(
    State(state): State<AppState>,
    auth: Auth,
    PathId(target): PathId,
) -> Result<Json<Value>, ApiError> {
    let me = other_than_self(auth.user("write:mutes")?, target)?;
    let events = state.store.mute(me, target).await?.into_iter().collect();
    settle(&state, me, target, events, false).await
}

/// `POST /api/v1/accounts/:id/unmute`.
pub async fn unmute(
    State(state): State<AppState>,
    auth: Auth,
    PathId(target): PathId,
) -> Result<Json<Value>, ApiError> {
    let me = auth.user("write:mutes")?;
    state.store.unmute(me, target).await?;
    settle(&state, me, target, Vec::new(), false).await
}

/// Following, blocking or muting oneself is not allowed (403, as Mastodon answers).
fn other_than_self(me: Id, target: Id) -> Result<Id, ApiError> {
    if me == target { Err(ApiError::Forbidden) } else { Ok(me) }
}

/// After a relationship change: drops the cached accounts whose counts moved (when the change
/// moved counts and did something), publishes its events, and answers with the Relationship.
async fn settle(
    state: &AppState,
    me: Id,
    target: Id,
    events: Vec<OutboxEntry>,
    moves_counts: bool,
) -> Result<Json<Value>, ApiError> {
    if moves_counts && !events.is_empty() {
        state.forget(EntityKind::Account, &[me, target]).await;
    }
    for event in events {
        state.publish(event).await;
    }
    relationship(state, me, target).await
}

async fn relationship(state: &AppState, me: Id, target: Id) -> Result<Json<Value>, ApiError> {
    let rel = state.store.relationship(me, target).await?;
    Ok(Json(entities::relationship(target, rel)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign_up(username: &str, email: &str, password: &str, agreement: Option<bool>) -> SignUp {
        SignUp {
            username: username.into(),
            email: email.into(),
            password: password.into(),
            agreement,
            locale: None,
        }
    }

    #[test]
    fn every_field_is_reported() {
        let errors = validate(&sign_up("bad name", "nope", "short", None)).err().unwrap();
        let fields: Vec<&str> = errors.fields.iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["username", "email", "password", "agreement"]);
    }

    #[test]
    fn a_good_sign_up_passes() {
        assert!(validate(&sign_up("alice", "alice@example.org", "correct horse", Some(true))).is_ok());
        assert!(validate(&sign_up("alice", "alice@example.org", "correct horse", Some(false))).is_err());
    }
}
