use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use serde::Deserialize;
use tusk_core::{DisplayName, Email, FieldError, Id, Locale, Note, Password, Username, ValidationErrors};
use tusk_store::FollowSide;
use utoipa::{IntoParams, ToSchema};

use crate::entities::{self, Account, Relationship, Token};
use crate::error::{
    ActionAnswers, BadRequest, Forbidden, NotFound, Unauthorized, Unavailable, Unprocessable,
    UnsupportedMediaType,
};
use crate::extract::{AppToken, Params, PathId, QueryParams, User, Viewer, lenient};
use crate::pagination::{AccountPageParams, accounts_page};
use crate::{ApiError, AppState};
use tusk_service::{CredentialAccount, NewAccount, NewProfile};

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
fn validate(params: &SignUp) -> Result<NewAccount, ValidationErrors> {
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
        (Some(username), Some(email), Some(password)) if errors.is_empty() => Ok(NewAccount {
            username,
            email,
            password,
            locale: params.locale.clone().filter(|l| !l.is_empty()),
        }),
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
    AppToken(app_token): AppToken,
    Params(params): Params<SignUp>,
) -> Result<Json<Token>, ApiError> {
    let (token, secret) = state.service.sign_up(&app_token, validate(&params)).await?;
    Ok(Json(entities::token(&token, &secret)))
}

/// `GET /api/v1/accounts/verify_credentials`.
#[utoipa::path(
    get,
    path = "/api/v1/accounts/verify_credentials",
    operation_id = "accounts_verify_credentials",
    tag = "accounts",
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
    User { account: account_id, .. }: User,
) -> Result<Json<Account>, ApiError> {
    Ok(Json(credential_account(&state, &state.service.credential_account(account_id).await?)))
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
    // another server's account: Tusk does not federate, so it knows none
    let username =
        tusk_core::instance::local_username(acct, &state.instance.domain).ok_or(ApiError::NotFound)?;
    if username.is_empty() || !username.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(ApiError::NotFound);
    }
    let account = state.service.account_by_username(username).await?;
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
    User { account: me, .. }: User,
    QueryParams(params): QueryParams<RelationshipsParams>,
) -> Result<Json<Vec<Relationship>>, ApiError> {
    let ids: Vec<Id> =
        params.id.iter().take(MAX_RELATIONSHIPS).filter_map(|raw| raw.trim().parse().ok()).collect();
    let found: HashMap<Id, tusk_store::Relationship> =
        state.service.relationships(me, &ids).await?.into_iter().collect();
    Ok(Json(ids.iter().filter_map(|id| Some(Relationship::new(*id, *found.get(id)?))).collect()))
}

/// `GET /api/v1/accounts/:id/followers`.
#[utoipa::path(
    get,
    path = "/api/v1/accounts/{id}/followers",
    operation_id = "accounts_followers",
    tag = "accounts",
    params(("id" = String, Path, description = "An account id"), AccountPageParams),
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
    Viewer(viewer): Viewer,
    uri: Uri,
    PathId(id): PathId,
    QueryParams(params): QueryParams<AccountPageParams>,
) -> Result<Response, ApiError> {
    follow_page(&state, viewer, &uri, id, FollowSide::Followers, &params).await
}

/// `GET /api/v1/accounts/:id/following`.
#[utoipa::path(
    get,
    path = "/api/v1/accounts/{id}/following",
    operation_id = "accounts_following",
    tag = "accounts",
    params(("id" = String, Path, description = "An account id"), AccountPageParams),
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
    Viewer(viewer): Viewer,
    uri: Uri,
    PathId(id): PathId,
    QueryParams(params): QueryParams<AccountPageParams>,
) -> Result<Response, ApiError> {
    follow_page(&state, viewer, &uri, id, FollowSide::Following, &params).await
}

/// One page of followers or following, newest follow first.
async fn follow_page(
    state: &AppState,
    viewer: Option<Id>,
    uri: &Uri,
    id: Id,
    side: FollowSide,
    params: &AccountPageParams,
) -> Result<Response, ApiError> {
    let cut = params.cut();
    let page = state.service.follows(viewer, id, side, cut).await?;
    Ok(accounts_page(&state.instance, uri, &page, cut.limit))
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
    User { account: me, .. }: User,
    Params(params): Params<UpdateCredentials>,
) -> Result<Json<Account>, ApiError> {
    let mut errors = ValidationErrors::default();
    let display_name =
        params.display_name.as_deref().and_then(|d| errors.check("display_name", DisplayName::parse(d)));
    let note = params.note.as_deref().and_then(|n| errors.check("note", Note::parse(n)));
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let profile = NewProfile { display_name, note, locked: params.locked };
    Ok(Json(credential_account(&state, &state.service.update_profile(me, profile).await?)))
}

/// `POST /api/v1/accounts/:id/follow`: follows at once, or, when the account is locked, leaves
/// a follow request for it to answer (the Relationship says `requested`).
#[utoipa::path(
    post,
    path = "/api/v1/accounts/{id}/follow",
    operation_id = "accounts_follow",
    tag = "accounts",
    params(("id" = String, Path, description = "An account id")),
    responses(ActionAnswers<Relationship>)
)]
pub async fn follow(
    State(state): State<AppState>,
    User { account: me, .. }: User,
    PathId(target): PathId,
) -> Result<Json<Relationship>, ApiError> {
    Ok(Json(Relationship::new(target, state.service.follow(me, target).await?)))
}

/// `POST /api/v1/accounts/:id/unfollow`: ends the follow, or withdraws a pending request.
#[utoipa::path(
    post,
    path = "/api/v1/accounts/{id}/unfollow",
    operation_id = "accounts_unfollow",
    tag = "accounts",
    params(("id" = String, Path, description = "An account id")),
    responses(ActionAnswers<Relationship>)
)]
pub async fn unfollow(
    State(state): State<AppState>,
    User { account: me, .. }: User,
    PathId(target): PathId,
) -> Result<Json<Relationship>, ApiError> {
    Ok(Json(Relationship::new(target, state.service.unfollow(me, target).await?)))
}

/// `POST /api/v1/accounts/:id/block`: ends the follows both ways; the workers clean both homes.
#[utoipa::path(
    post,
    path = "/api/v1/accounts/{id}/block",
    operation_id = "accounts_block",
    tag = "accounts",
    params(("id" = String, Path, description = "An account id")),
    responses(ActionAnswers<Relationship>)
)]
pub async fn block(
    State(state): State<AppState>,
    User { account: me, .. }: User,
    PathId(target): PathId,
) -> Result<Json<Relationship>, ApiError> {
    Ok(Json(Relationship::new(target, state.service.block(me, target).await?)))
}

/// `POST /api/v1/accounts/:id/unblock`.
#[utoipa::path(
    post,
    path = "/api/v1/accounts/{id}/unblock",
    operation_id = "accounts_unblock",
    tag = "accounts",
    params(("id" = String, Path, description = "An account id")),
    responses(ActionAnswers<Relationship>)
)]
pub async fn unblock(
    State(state): State<AppState>,
    User { account: me, .. }: User,
    PathId(target): PathId,
) -> Result<Json<Relationship>, ApiError> {
    Ok(Json(Relationship::new(target, state.service.unblock(me, target).await?)))
}

/// `POST /api/v1/accounts/:id/mute`: the account's statuses leave the home feed, and later ones
/// are not delivered there.
#[utoipa::path(
    post,
    path = "/api/v1/accounts/{id}/mute",
    operation_id = "accounts_mute",
    tag = "accounts",
    params(("id" = String, Path, description = "An account id")),
    responses(ActionAnswers<Relationship>)
)]
pub async fn mute(
    State(state): State<AppState>,
    User { account: me, .. }: User,
    PathId(target): PathId,
) -> Result<Json<Relationship>, ApiError> {
    Ok(Json(Relationship::new(target, state.service.mute(me, target).await?)))
}

/// `POST /api/v1/accounts/:id/unmute`.
#[utoipa::path(
    post,
    path = "/api/v1/accounts/{id}/unmute",
    operation_id = "accounts_unmute",
    tag = "accounts",
    params(("id" = String, Path, description = "An account id")),
    responses(ActionAnswers<Relationship>)
)]
pub async fn unmute(
    State(state): State<AppState>,
    User { account: me, .. }: User,
    PathId(target): PathId,
) -> Result<Json<Relationship>, ApiError> {
    Ok(Json(Relationship::new(target, state.service.unmute(me, target).await?)))
}

/// The CredentialAccount: the account with its `source`.
fn credential_account(state: &AppState, credential: &CredentialAccount) -> Account {
    let CredentialAccount { account, locale, follow_requests } = credential;
    Account::new(&state.instance, account).with_source(account, locale.as_deref(), *follow_requests)
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
