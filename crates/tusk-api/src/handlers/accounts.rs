use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::{Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use tusk_cache::EntityKind;
use tusk_core::{
    DisplayName, Email, FieldError, Id, Locale, Note, Password, Registrations, Username, ValidationErrors,
    token,
};
use tusk_store::{FollowSide, NewUser, OutboxEntry, ProfileUpdate, StoreError};
use utoipa::{IntoParams, ToSchema};

use crate::entities::{self, Account, Relationship, Token};
use crate::extract::{Auth, Params, PathId, QueryParams, lenient};
use crate::openapi::{
    ActionAnswers, BadRequest, Forbidden, NotFound, Unauthorized, Unavailable, Unprocessable,
    UnsupportedMediaType,
};
use crate::{ApiError, AppState, pagination};

#[derive(Deserialize, ToSchema)]
pub struct SignUp {
    #[serde(default)]
    #[schema(required, example = "alice")]
    username: String,
    #[serde(default)]
    #[schema(required, example = "alice@example.org")]
    email: String,
    #[serde(default)]
    #[schema(required, example = "correct horse battery")]
    password: String,
    /// Must be true: the user accepts the server's rules.
    #[serde(default, deserialize_with = "lenient::bool_opt")]
    #[schema(required, value_type = bool)]
    agreement: Option<bool>,
    /// A BCP 47 language tag, e.g. `en`.
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
    if let Some(locale) = params.locale.as_deref().filter(|l| !l.is_empty()) {
        errors.check("locale", Locale::parse(locale));
    }
    match (username, email, password) {
        (Some(username), Some(email), Some(password)) if errors.is_empty() => {
            Ok(ValidSignUp { username, email, password })
        }
        _ => Err(errors),
    }
}

/// `POST /api/v1/accounts`: sign-up with an app token; answers with the new user's token.
#[utoipa::path(
    post,
    path = "/api/v1/accounts",
    operation_id = "accounts_create",
    tag = "accounts",
    request_body(content(
        (SignUp = "application/json"),
        (SignUp = "application/x-www-form-urlencoded"),
        (SignUp = "multipart/form-data"),
    )),
    security(("OAuth2" = ["write:accounts"])),
    responses(
        (status = 200, description = "The new user's token", body = Token),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Params(params): Params<SignUp>,
) -> Result<Json<Token>, ApiError> {
    let app_token = auth.token("write:accounts")?;
    // Mastodon answers a closed server's sign-up with its generic 403
    if state.registrations == Registrations::Closed {
        return Err(ApiError::Forbidden);
    }
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
) -> Result<Json<Token>, ApiError> {
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
            approved: !state.registrations.approval_required(),
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
#[utoipa::path(
    get,
    path = "/api/v1/accounts/verify_credentials",
    operation_id = "accounts_verify_credentials",
    tag = "accounts",
    security(("OAuth2" = ["read:accounts"])),
    responses(
        (status = 200, description = "The signed-in account, with `source`", body = Account),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub async fn verify_credentials(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<Account>, ApiError> {
    let account_id = auth.user("read:accounts")?;
    let account = state.store.account(account_id).await?;
    let locale = state.store.user_locale(account_id).await?;
    let requests = state.store.follow_requests_count(account_id).await?;
    Ok(Json(Account::new(&state.instance, &account).with_source(&account, locale.as_deref(), requests)))
}

/// `GET /api/v1/accounts/:id`.
#[utoipa::path(
    get,
    path = "/api/v1/accounts/{id}",
    operation_id = "accounts_show",
    tag = "accounts",
    params(("id" = String, Path, description = "An account id")),
    responses(
        (status = 200, description = "The account", body = Account),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
pub async fn show(State(state): State<AppState>, PathId(id): PathId) -> Result<Json<Account>, ApiError> {
    let account = state.load_account(id).await?;
    Ok(Json(Account::new(&state.instance, &account)))
}

/// `GET /api/v1/accounts/lookup?acct=`: a local account by `username`, `@username` or
/// `username@this.domain`.
#[utoipa::path(
    get,
    path = "/api/v1/accounts/lookup",
    operation_id = "accounts_lookup",
    tag = "accounts",
    params(LookupParams),
    responses(
        (status = 200, description = "The account", body = Account),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
pub async fn lookup(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<LookupParams>,
) -> Result<Json<Account>, ApiError> {
    let acct = params
        .acct
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ApiError::BadRequest("param is missing or the value is empty: acct".into()))?;
    let acct = acct.strip_prefix('@').unwrap_or(acct);
    let username = match acct.split_once('@') {
        None => acct,
        Some((username, domain)) if domain.eq_ignore_ascii_case(&state.instance.domain) => username,
        // another server's account: Tusk does not federate, so it knows none
        Some(_) => return Err(ApiError::NotFound),
    };
    if username.is_empty() || !username.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(ApiError::NotFound);
    }
    let id = state.store.account_id_by_username(username).await?.ok_or(ApiError::NotFound)?;
    let account = state.load_account(id).await?;
    Ok(Json(Account::new(&state.instance, &account)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LookupParams {
    /// `username`, `@username` or `username@this.domain`.
    #[param(required)]
    acct: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RelationshipsParams {
    /// The account ids (`id[]=1&id[]=2`, or `id=1`); at most 80 are answered.
    #[serde(default, deserialize_with = "lenient::string_list")]
    #[param(rename = "id[]", style = Form, explode)]
    id: Vec<String>,
}

/// Mastodon answers at most this many relationships at once.
const MAX_RELATIONSHIPS: usize = 80;

/// `GET /api/v1/accounts/relationships?id[]=…`: one Relationship per id, in the order asked;
/// ids that are not numbers or name no account are left out, as Mastodon leaves them out.
#[utoipa::path(
    get,
    path = "/api/v1/accounts/relationships",
    operation_id = "accounts_relationships",
    tag = "accounts",
    params(RelationshipsParams),
    security(("OAuth2" = ["read:follows"])),
    responses(
        (status = 200, description = "One Relationship per known id, in the order asked", body = Vec<Relationship>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub async fn relationships(
    State(state): State<AppState>,
    auth: Auth,
    QueryParams(params): QueryParams<RelationshipsParams>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let me = auth.user("read:follows")?;
    let ids: Vec<Id> =
        params.id.iter().take(MAX_RELATIONSHIPS).filter_map(|raw| raw.trim().parse().ok()).collect();
    if ids.is_empty() {
        return Ok(Json(Vec::new()));
    }
    let found: HashMap<Id, tusk_store::Relationship> =
        state.store.relationships(me, &ids).await?.into_iter().collect();
    Ok(Json(ids.iter().filter_map(|id| Some(entities::relationship(*id, *found.get(id)?))).collect()))
}

/// The query of a page of accounts (followers, following, follow requests), cut by the id of the
/// follow or request, as Mastodon pages them.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountPageParams {
    /// Older than this follow or request (the `Link` header's `next`).
    #[serde(default, deserialize_with = "lenient::id_opt")]
    #[param(value_type = Option<String>, pattern = "^[0-9]+$")]
    max_id: Option<Id>,
    /// Newer than this follow or request (the `Link` header's `prev`).
    #[serde(default, deserialize_with = "lenient::id_opt")]
    #[param(value_type = Option<String>, pattern = "^[0-9]+$")]
    since_id: Option<Id>,
    /// Accounts per page: 40 unless asked, at most 80.
    #[serde(default, deserialize_with = "lenient::int_opt")]
    #[param(minimum = 1, maximum = 80)]
    limit: Option<i64>,
}

/// Accounts per page: 40 unless asked, at most 80 (Mastodon's `DEFAULT_ACCOUNTS_LIMIT` and its
/// double).
const ACCOUNTS_LIMIT: i64 = 40;

impl AccountPageParams {
    pub(crate) fn max_id(&self) -> Option<Id> {
        self.max_id
    }

    pub(crate) fn since_id(&self) -> Option<Id> {
        self.since_id
    }

    pub(crate) fn limit(&self) -> i64 {
        self.limit.map_or(ACCOUNTS_LIMIT, |l| l.clamp(1, 2 * ACCOUNTS_LIMIT))
    }
}

/// A page of `(follow or request id, account id)`, newest first, as the response: the accounts
/// with Mastodon's `Link` header, `next` (`max_id`) when the page is full, `prev` (`since_id`)
/// when it is not empty.
pub(crate) async fn accounts_page(
    state: &AppState,
    uri: &Uri,
    page: &[(Id, Id)],
    limit: i64,
) -> Result<Response, ApiError> {
    let account_ids: Vec<Id> = page.iter().map(|(_, account)| *account).collect();
    let rows: HashMap<Id, tusk_store::AccountRow> =
        state.load_accounts(&account_ids).await?.into_iter().map(|a| (a.id, a)).collect();
    let accounts: Vec<Account> =
        account_ids.iter().filter_map(|a| Some(Account::new(&state.instance, rows.get(a)?))).collect();
    let mut links = Vec::new();
    if let Some((last, _)) = page.last()
        && i64::try_from(page.len()).is_ok_and(|n| n == limit)
    {
        links.push(("next", "max_id", *last));
    }
    if let Some((first, _)) = page.first() {
        links.push(("prev", "since_id", *first));
    }
    let url = format!("{}{}", state.instance.base_url(), uri.path());
    let mut response = Json(accounts).into_response();
    if let Some(link) = pagination::rel_links(&url, uri.query(), &["limit"], &links) {
        response.headers_mut().insert(header::LINK, link);
    }
    Ok(response)
}

/// `GET /api/v1/accounts/:id/followers`.
#[utoipa::path(
    get,
    path = "/api/v1/accounts/{id}/followers",
    operation_id = "accounts_followers",
    tag = "accounts",
    params(("id" = String, Path, description = "An account id"), AccountPageParams),
    security((), ("OAuth2" = [])),
    responses(
        (status = 200, description = "The accounts following it, newest follow first", body = Vec<Account>,
            headers(("Link" = String, description = "`rel=\"next\"` (older, by `max_id`) when the page is full, `rel=\"prev\"` (newer, by `since_id`) when it is not empty"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
pub async fn followers(
    State(state): State<AppState>,
    auth: Auth,
    uri: Uri,
    PathId(id): PathId,
    QueryParams(params): QueryParams<AccountPageParams>,
) -> Result<Response, ApiError> {
    follow_page(&state, &auth, &uri, id, FollowSide::Followers, &params).await
}

/// `GET /api/v1/accounts/:id/following`.
#[utoipa::path(
    get,
    path = "/api/v1/accounts/{id}/following",
    operation_id = "accounts_following",
    tag = "accounts",
    params(("id" = String, Path, description = "An account id"), AccountPageParams),
    security((), ("OAuth2" = [])),
    responses(
        (status = 200, description = "The accounts it follows, newest follow first", body = Vec<Account>,
            headers(("Link" = String, description = "`rel=\"next\"` (older, by `max_id`) when the page is full, `rel=\"prev\"` (newer, by `since_id`) when it is not empty"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
pub async fn following(
    State(state): State<AppState>,
    auth: Auth,
    uri: Uri,
    PathId(id): PathId,
    QueryParams(params): QueryParams<AccountPageParams>,
) -> Result<Response, ApiError> {
    follow_page(&state, &auth, &uri, id, FollowSide::Following, &params).await
}

/// One page of followers or following, newest follow first.
async fn follow_page(
    state: &AppState,
    auth: &Auth,
    uri: &Uri,
    id: Id,
    side: FollowSide,
    params: &AccountPageParams,
) -> Result<Response, ApiError> {
    let limit = params.limit();
    let page = state.store.follow_page(id, side, params.max_id, params.since_id, limit).await?;
    // an account that blocks the viewer hides its follows from it, as in Mastodon
    if let Some(viewer) = auth.viewer()
        && viewer != id
        && state.store.relationship(viewer, id).await?.blocked_by
    {
        return Ok(Json(Vec::<Account>::new()).into_response());
    }
    accounts_page(state, uri, &page, limit).await
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateCredentials {
    display_name: Option<String>,
    /// Plain text.
    note: Option<String>,
    /// Whether follows need the account's approval (follow requests).
    #[serde(default, deserialize_with = "lenient::bool_opt")]
    locked: Option<bool>,
}

/// `PATCH /api/v1/accounts/update_credentials`: display name, note and locked; answers with
/// the CredentialAccount. Every field is checked before anything is written.
#[utoipa::path(
    patch,
    path = "/api/v1/accounts/update_credentials",
    operation_id = "accounts_update_credentials",
    tag = "accounts",
    request_body(content(
        (UpdateCredentials = "application/json"),
        (UpdateCredentials = "application/x-www-form-urlencoded"),
        (UpdateCredentials = "multipart/form-data"),
    )),
    security(("OAuth2" = ["write:accounts"])),
    responses(
        (status = 200, description = "The account afterwards, with `source`", body = Account),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub async fn update_credentials(
    State(state): State<AppState>,
    auth: Auth,
    Params(params): Params<UpdateCredentials>,
) -> Result<Json<Account>, ApiError> {
    let me = auth.user("write:accounts")?;
    let mut errors = ValidationErrors::default();
    let display_name =
        params.display_name.as_deref().and_then(|d| errors.check("display_name", DisplayName::parse(d)));
    let note = params.note.as_deref().and_then(|n| errors.check("note", Note::parse(n)));
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let update =
        ProfileUpdate { display_name: display_name.as_ref(), note: note.as_ref(), locked: params.locked };
    state.store.update_profile(me, &update).await?;
    // unlocking lets everyone who asked in, as Mastodon does
    let accepted = if params.locked == Some(false) {
        state.store.authorize_all_follow_requests(me).await?
    } else {
        Vec::new()
    };
    let mut moved = vec![me];
    moved.extend(accepted.iter().filter_map(|entry| match entry.event {
        tusk_core::Event::FollowCreated { account_id, .. } => Some(account_id),
        _ => None,
    }));
    state.forget(EntityKind::Account, &moved).await;
    state.service.forget_relationships(&moved).await;
    for event in accepted {
        state.publish(event).await;
    }
    let account = state.store.account(me).await?;
    let locale = state.store.user_locale(me).await?;
    let requests = state.store.follow_requests_count(me).await?;
    Ok(Json(Account::new(&state.instance, &account).with_source(&account, locale.as_deref(), requests)))
}

/// `POST /api/v1/accounts/:id/follow`: follows at once, or, when the account is locked, leaves
/// a follow request for it to answer (the Relationship says `requested`).
#[utoipa::path(
    post,
    path = "/api/v1/accounts/{id}/follow",
    operation_id = "accounts_follow",
    tag = "accounts",
    params(("id" = String, Path, description = "An account id")),
    security(("OAuth2" = ["write:follows"])),
    responses(ActionAnswers<Relationship>)
)]
pub async fn follow(
    State(state): State<AppState>,
    auth: Auth,
    PathId(target): PathId,
) -> Result<Json<Value>, ApiError> {
    let me = other_than_self(auth.user("write:follows")?, target)?;
    let events = state.store.follow(me, target).await?.into_iter().collect();
    settle(&state, me, target, events, true).await
}

/// `POST /api/v1/accounts/:id/unfollow`: ends the follow, or withdraws a pending request.
#[utoipa::path(
    post,
    path = "/api/v1/accounts/{id}/unfollow",
    operation_id = "accounts_unfollow",
    tag = "accounts",
    params(("id" = String, Path, description = "An account id")),
    security(("OAuth2" = ["write:follows"])),
    responses(ActionAnswers<Relationship>)
)]
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
#[utoipa::path(
    post,
    path = "/api/v1/accounts/{id}/block",
    operation_id = "accounts_block",
    tag = "accounts",
    params(("id" = String, Path, description = "An account id")),
    security(("OAuth2" = ["write:blocks"])),
    responses(ActionAnswers<Relationship>)
)]
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
#[utoipa::path(
    post,
    path = "/api/v1/accounts/{id}/unblock",
    operation_id = "accounts_unblock",
    tag = "accounts",
    params(("id" = String, Path, description = "An account id")),
    security(("OAuth2" = ["write:blocks"])),
    responses(ActionAnswers<Relationship>)
)]
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
#[utoipa::path(
    post,
    path = "/api/v1/accounts/{id}/mute",
    operation_id = "accounts_mute",
    tag = "accounts",
    params(("id" = String, Path, description = "An account id")),
    security(("OAuth2" = ["write:mutes"])),
    responses(ActionAnswers<Relationship>)
)]
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
#[utoipa::path(
    post,
    path = "/api/v1/accounts/{id}/unmute",
    operation_id = "accounts_unmute",
    tag = "accounts",
    params(("id" = String, Path, description = "An account id")),
    security(("OAuth2" = ["write:mutes"])),
    responses(ActionAnswers<Relationship>)
)]
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
pub(crate) async fn settle(
    state: &AppState,
    me: Id,
    target: Id,
    events: Vec<OutboxEntry>,
    moves_counts: bool,
) -> Result<Json<Value>, ApiError> {
    if moves_counts && !events.is_empty() {
        state.forget(EntityKind::Account, &[me, target]).await;
    }
    // both sides: a block hides each from the other, a follow may pull a hybrid author
    state.service.forget_relationships(&[me, target]).await;
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
