//! Integration tests: the real api and worker, in this process, against the real PostgreSQL,
//! Redis and RabbitMQ. Each test gets its own database, Redis key prefix and queue names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod admin;
mod clients;
mod cluster;
mod fanout;
mod helpers;
mod home;
mod interactions;
mod oauth;
mod profiles;
mod ratelimits;
mod statuses;
mod streaming;
mod timelines;
