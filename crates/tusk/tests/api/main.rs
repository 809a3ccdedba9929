//! Integration tests: the real api and worker, in this process, against the real PostgreSQL,
//! Redis and RabbitMQ. Each test gets its own database, Redis key prefix and queue names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod admin;
mod approvals;
mod caches;
mod clients;
mod cluster;
mod fanout;
mod follow_requests;
mod helpers;
mod home;
mod http;
mod interactions;
mod kept;
mod launch;
mod media;
mod notifications;
mod oauth;
mod openapi;
mod overload;
mod profiles;
mod ratelimits;
mod security;
mod statuses;
mod streaming;
mod timelines;
