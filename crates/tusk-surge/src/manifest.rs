//! What `tusk-surge seed` leaves for `tusk-surge replay`: the seeded accounts a replay can act
//! as (with usable access tokens) and the popular accounts onboarding suggests. JSON, written
//! next to nothing else; `replay --seed-manifest FILE` reads it.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeedManifest {
    /// The api base URL's domain the seed was made for (informational).
    pub database: String,
    /// Accounts the replay may act as: existing users who post and read.
    pub users: Vec<SeededUser>,
    /// The most-followed accounts, most followed first: what onboarding suggests to new users.
    pub popular: Vec<SeededAccount>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeededUser {
    pub id: String,
    pub username: String,
    /// A valid access token (scopes `read write follow`) for this user.
    pub token: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeededAccount {
    pub id: String,
    pub username: String,
    pub followers: i64,
}
