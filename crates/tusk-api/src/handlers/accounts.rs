use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use serde::Deserialize;
use tusk_core::{
    DisplayName, Email, FieldError, Id, Locale, Note, Password, ProfileImage, Username, ValidationErrors,
    Visibility,
};
use tusk_store::AccountList;
use utoipa::{IntoParams, ToSchema};

use crate::entities::{self, Account, Preferences, Relationship, Token};
use crate::error::{
    ActionAnswers, BadRequest, Forbidden, NotFound, Unauthorized, Unavailable, Unprocessable,
    UnsupportedMediaType,
};
use crate::extract::{
    AppToken, FileFields, IdsParams, Params, PathId, QueryParams, User, Viewer, WithFiles, lenient,
};
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

/// Mastodon answers at most this many relationships at once.
const MAX_RELATIONSHIPS: usize = 80;

/// `GET /api/v1/accounts/relationships?id[]=…`: one Relationship per id, in the order asked;
/// ids that are not numbers or name no account are left out, as Mastodon leaves them out.
#[utoipa::path(
    get,
    path = "/api/v1/accounts/relationships",
    operation_id = "accounts_relationships",
    tag = "accounts",
    params(IdsParams),
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
    QueryParams(params): QueryParams<IdsParams>,
) -> Result<Json<Vec<Relationship>>, ApiError> {
    let ids: Vec<Id> = params.ids().into_iter().take(MAX_RELATIONSHIPS).collect();
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
    account_list(&state, viewer, &uri, id, AccountList::Followers, &params).await
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
    account_list(&state, viewer, &uri, id, AccountList::Following, &params).await
}

/// One page of an account's list (followers, following, blocks, mutes), newest first.
async fn account_list(
    state: &AppState,
    viewer: Option<Id>,
    uri: &Uri,
    id: Id,
    list: AccountList,
    params: &AccountPageParams,
) -> Result<Response, ApiError> {
    let cut = params.cut();
    let page = state.service.account_list(viewer, id, list, cut).await?;
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
    /// The posting defaults, as a JSON body nests them.
    source: Option<SourceParams>,
    /// The posting defaults as a form sends them (`source[privacy]`, …).
    #[serde(rename = "source[privacy]")]
    #[schema(value_type = Option<String>)]
    source_privacy: Option<String>,
    #[serde(rename = "source[sensitive]", default, deserialize_with = "lenient::bool_opt")]
    source_sensitive: Option<bool>,
    #[serde(rename = "source[language]")]
    source_language: Option<String>,
    /// A new avatar (multipart file; JPEG, PNG, WebP or GIF up to 2 MB): cropped to 400x400
    /// by the workers, shown once processed.
    #[serde(default, skip)]
    #[schema(value_type = Option<String>, format = Binary)]
    #[allow(dead_code)]
    avatar: (),
    /// A new header (multipart file, up to 2 MB): cropped to 1500x500.
    #[serde(default, skip)]
    #[schema(value_type = Option<String>, format = Binary)]
    #[allow(dead_code)]
    header: (),
}

impl FileFields for UpdateCredentials {
    const FILES: &'static [&'static str] = &["avatar", "header"];
}

/// The posting defaults of `update_credentials` (the account's `source`).
#[derive(Default, Deserialize, ToSchema)]
pub struct SourceParams {
    /// `public`, `unlisted` or `private` (not `direct`).
    privacy: Option<String>,
    #[serde(default, deserialize_with = "lenient::bool_opt")]
    sensitive: Option<bool>,
    /// An ISO 639 code, e.g. `en`.
    language: Option<String>,
}

impl UpdateCredentials {
    /// The posting defaults, the form's fields over the JSON's.
    fn source(&mut self) -> SourceParams {
        let nested = self.source.take().unwrap_or_default();
        SourceParams {
            privacy: self.source_privacy.take().or(nested.privacy),
            sensitive: self.source_sensitive.or(nested.sensitive),
            language: self.source_language.take().or(nested.language),
        }
    }
}

/// A default visibility: a post's visibility but `direct`, as Mastodon's `default_privacy`
/// setting allows.
fn default_privacy(raw: &str) -> Result<Visibility, FieldError> {
    match Visibility::parse(raw) {
        Ok(Visibility::Direct) | Err(_) => Err(FieldError::inclusion()),
        Ok(visibility) => Ok(visibility),
    }
}

/// `PATCH /api/v1/accounts/update_credentials`: display name, note, locked and the posting
/// defaults (`source[privacy]`, `source[sensitive]`, `source[language]`); answers with the
/// CredentialAccount. Every field is checked before anything is written.
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
    WithFiles { mut params, files }: WithFiles<UpdateCredentials>,
) -> Result<Json<Account>, ApiError> {
    let mut errors = ValidationErrors::default();
    let display_name =
        params.display_name.as_deref().and_then(|d| errors.check("display_name", DisplayName::parse(d)));
    let note = params.note.as_deref().and_then(|n| errors.check("note", Note::parse(n)));
    let source = params.source();
    let privacy = source.privacy.as_deref().and_then(|p| errors.check("source[privacy]", default_privacy(p)));
    let language = source
        .language
        .as_deref()
        .filter(|l| !l.is_empty())
        .and_then(|l| errors.check("source[language]", Locale::parse(l)));
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let pictures: Vec<(ProfileImage, axum::body::Bytes)> = [ProfileImage::Avatar, ProfileImage::Header]
        .into_iter()
        .filter_map(|image| files.get(image.as_str()).map(|bytes| (image, bytes.clone())))
        .collect();
    for (image, bytes) in &pictures {
        state.service.check_profile_image(*image, bytes)?;
    }
    // the pictures show once the workers processed them
    for (image, bytes) in pictures {
        state.service.upload_profile_image(me, image, bytes).await?;
    }
    let profile = NewProfile {
        display_name,
        note,
        locked: params.locked,
        privacy,
        sensitive: source.sensitive,
        language,
    };
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

/// `GET /api/v1/blocks`: the accounts the signed-in account blocks, newest block first, paged
/// by the block's id.
#[utoipa::path(
    get,
    path = "/api/v1/blocks",
    operation_id = "blocks_index",
    tag = "accounts",
    params(AccountPageParams),
    responses(
        (status = 200, description = "The accounts blocked, newest block first", body = Vec<Account>,
            headers(("Link" = String, description = "`rel=\"next\"` (older, by `max_id`) when the page is full, `rel=\"prev\"` (newer, by `since_id`) when it is not empty"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
pub async fn blocks(
    State(state): State<AppState>,
    User { account: me, .. }: User,
    uri: Uri,
    QueryParams(params): QueryParams<AccountPageParams>,
) -> Result<Response, ApiError> {
    account_list(&state, Some(me), &uri, me, AccountList::Blocked, &params).await
}

/// `GET /api/v1/mutes`: the accounts the signed-in account mutes, newest mute first, paged by
/// the mute's id.
#[utoipa::path(
    get,
    path = "/api/v1/mutes",
    operation_id = "mutes_index",
    tag = "accounts",
    params(AccountPageParams),
    responses(
        (status = 200, description = "The accounts muted, newest mute first", body = Vec<Account>,
            headers(("Link" = String, description = "`rel=\"next\"` (older, by `max_id`) when the page is full, `rel=\"prev\"` (newer, by `since_id`) when it is not empty"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
pub async fn mutes(
    State(state): State<AppState>,
    User { account: me, .. }: User,
    uri: Uri,
    QueryParams(params): QueryParams<AccountPageParams>,
) -> Result<Response, ApiError> {
    account_list(&state, Some(me), &uri, me, AccountList::Muted, &params).await
}

/// `GET /api/v1/preferences`: the posting defaults (set through `update_credentials`), and the
/// reading preferences, Mastodon's defaults (Tusk keeps no others).
#[utoipa::path(
    get,
    path = "/api/v1/preferences",
    operation_id = "preferences",
    tag = "accounts",
    responses(
        (status = 200, description = "The signed-in account's preferences", body = Preferences),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
pub async fn preferences(
    State(state): State<AppState>,
    User { account: me, .. }: User,
) -> Result<Json<Preferences>, ApiError> {
    Ok(Json(Preferences::new(&state.service.settings(me).await?)))
}

/// The CredentialAccount: the account with its `source`.
fn credential_account(state: &AppState, credential: &CredentialAccount) -> Account {
    let CredentialAccount { account, settings, follow_requests } = credential;
    Account::new(&state.instance, account).with_source(account, settings, *follow_requests)
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
