//! The use-cases: what a local user asks of Tusk through the client API (and, later, what a
//! remote actor asks through the inbox, and the workers' jobs). A handler parses its input,
//! calls one of these, and renders the Mastodon entity from what it returns.

mod accounts;
mod instance;
mod oauth;
mod relationships;
mod statuses;
mod streaming;

pub(crate) use accounts::{AccountPage, CredentialAccount, NewAccount, NewProfile, PageCut};
pub(crate) use oauth::{AppRegistration, CodeGrant};
pub(crate) use statuses::NewPost;
