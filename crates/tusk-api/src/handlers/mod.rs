//! Request handlers, one module per resource; each handler is a few lines over a service call.

pub mod accounts;
pub mod apps;
pub mod authorize;
pub mod follow_requests;
pub mod instance;
pub mod later;
pub mod media;
pub mod notifications;
pub mod oauth;
pub mod search;
pub mod statuses;
pub mod streaming;
pub mod timelines;
