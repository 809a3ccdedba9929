-- A follow of a locked account waits here until the account authorizes or rejects it (Mastodon's
-- follow_requests). Authorizing moves the row into `follows` in one transaction.
CREATE TABLE follow_requests (
    id                bigint PRIMARY KEY DEFAULT tusk_snowflake(),
    account_id        bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    target_account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, target_account_id)
);
-- the target's pending requests, newest first, are paged by this index
CREATE INDEX follow_requests_target_account_id_id ON follow_requests (target_account_id, id DESC);
