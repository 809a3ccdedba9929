//! What the api has rendered, kept for the next responses: a status's viewer-independent part
//! (its HTML, links, attachments, times) and an account with its JSON. A warm home page reads
//! the same statuses and authors again and again; rendering them anew each time was 7.5 % of
//! the api's CPU in `tusk-surge bench home`, and serializing them 8 %. Mastodon keeps its rendered statuses in its cache
//! for the same reason.
//!
//! An entry is used only for a row equal to the one it was rendered from, so nothing here can
//! be stale: an edited status, an account's new avatar or its next follower make another row,
//! rendered anew and kept in place of the old. The entries are bounded in number and evicted
//! by use (`quick_cache`).

use std::sync::Arc;

use quick_cache::sync::Cache;
use tusk_core::{Id, Instance};
use tusk_store::{AccountRow, StatusRow};

use crate::entities::{Account, EmbeddedAccount, Rendered, Status};

/// Entries kept of each kind: the statuses and authors of a few thousand busy home pages.
const CAPACITY: usize = 20_000;

struct RenderedAccount {
    row: AccountRow,
    rendered: EmbeddedAccount,
}

struct RenderedStatus {
    row: StatusRow,
    /// The author's username, in the status's links.
    username: String,
    /// Without counts, viewer flags or reblog: those are set per response.
    rendered: Status,
}

pub(crate) struct RenderMemo {
    accounts: Cache<Id, Arc<RenderedAccount>>,
    statuses: Cache<Id, Arc<RenderedStatus>>,
}

impl Default for RenderMemo {
    fn default() -> Self {
        Self { accounts: Cache::new(CAPACITY), statuses: Cache::new(CAPACITY) }
    }
}

impl RenderMemo {
    /// `row` rendered, as statuses and notifications embed it.
    pub(crate) fn account(&self, instance: &Instance, row: &AccountRow) -> EmbeddedAccount {
        if let Some(kept) = self.accounts.get(&row.id).filter(|kept| kept.row == *row) {
            return Arc::clone(&kept.rendered);
        }
        let rendered = Arc::new(Rendered::new(Account::new(instance, row)));
        let entry = RenderedAccount { row: row.clone(), rendered: Arc::clone(&rendered) };
        self.accounts.insert(row.id, Arc::new(entry));
        rendered
    }

    /// `row` by `username` rendered with `account` (its author), without counts, viewer flags
    /// or reblog.
    pub(crate) fn status(
        &self,
        instance: &Instance,
        row: &StatusRow,
        username: &str,
        account: EmbeddedAccount,
    ) -> Status {
        if let Some(kept) =
            self.statuses.get(&row.id).filter(|kept| kept.row == *row && kept.username == username)
        {
            return Status { account, ..kept.rendered.clone() };
        }
        let rendered = Status::by(instance, row, username, account);
        let entry =
            RenderedStatus { row: row.clone(), username: username.to_owned(), rendered: rendered.clone() };
        self.statuses.insert(row.id, Arc::new(entry));
        rendered
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone as _, Utc};

    use super::*;

    fn instance() -> Instance {
        Instance::new("tusk.test", true)
    }

    fn account_row() -> AccountRow {
        AccountRow {
            id: Id(7),
            username: "alice".into(),
            display_name: "Alice".into(),
            note: "hello".into(),
            locked: false,
            bot: false,
            created_at: Utc.with_ymd_and_hms(2022, 11, 1, 12, 0, 0).unwrap(),
            last_status_at: None,
            followers_count: 1,
            following_count: 2,
            statuses_count: 3,
            avatar_key: None,
            avatar_static_key: None,
            header_key: None,
            header_static_key: None,
        }
    }

    fn status_row(text: &str) -> StatusRow {
        StatusRow {
            id: Id(42),
            account_id: Id(7),
            text: text.into(),
            spoiler_text: String::new(),
            sensitive: false,
            visibility: "public".into(),
            language: Some("en".into()),
            in_reply_to_id: None,
            in_reply_to_account_id: None,
            reblog_of_id: None,
            application_name: None,
            application_website: None,
            created_at: Utc.with_ymd_and_hms(2022, 11, 2, 8, 30, 0).unwrap(),
            mentions: Vec::new(),
            tags: vec!["Tusk".into()],
            media: Vec::new(),
        }
    }

    fn json<T: serde::Serialize>(value: &T) -> serde_json::Value {
        serde_json::to_value(value).unwrap()
    }

    #[test]
    fn an_account_is_rendered_once_per_row_and_again_when_the_row_changes() {
        let (memo, instance) = (RenderMemo::default(), instance());
        let row = account_row();
        let first = memo.account(&instance, &row);
        assert!(Arc::ptr_eq(&first, &memo.account(&instance, &row)), "the same row is rendered once");
        assert_eq!(json(&first), json(&Account::new(&instance, &row)), "the JSON is the entity's");

        let followed = AccountRow { followers_count: 2, ..row };
        let second = memo.account(&instance, &followed);
        assert!(!Arc::ptr_eq(&first, &second), "a new count is a new row");
        assert_eq!(json(&second)["followers_count"], 2);
    }

    #[test]
    fn a_status_is_rendered_anew_when_its_row_changes_and_carries_the_account_given() {
        let (memo, instance) = (RenderMemo::default(), instance());
        let author = memo.account(&instance, &account_row());
        let row = status_row("first #Tusk");
        let fresh = Status::by(&instance, &row, "alice", Arc::clone(&author));
        let kept = memo.status(&instance, &row, "alice", Arc::clone(&author));
        let again = memo.status(&instance, &row, "alice", Arc::clone(&author));
        assert_eq!(json(&kept), json(&fresh));
        assert_eq!(json(&again), json(&fresh), "the kept rendering is the same status");

        let edited = status_row("edited #Tusk");
        let rendered = memo.status(&instance, &edited, "alice", Arc::clone(&author));
        assert!(json(&rendered)["content"].as_str().is_some_and(|html| html.contains("edited")));

        let renamed =
            memo.account(&instance, &AccountRow { display_name: "Alice B".into(), ..account_row() });
        let rendered = memo.status(&instance, &edited, "alice", renamed);
        assert_eq!(json(&rendered)["account"]["display_name"], "Alice B", "the account is the one given");
    }
}
