-- Replies name the account they answer (Mastodon's `in_reply_to_account_id`), so that "replies
-- to others" can be told from self-threads without a join; reblogs are statuses that point at
-- their original; favourites are one row per account and status.
ALTER TABLE statuses ADD COLUMN in_reply_to_account_id bigint;
ALTER TABLE statuses ADD COLUMN reblog_of_id bigint REFERENCES statuses ON DELETE CASCADE;
-- one reblog of a status per account
CREATE UNIQUE INDEX statuses_reblog_once ON statuses (account_id, reblog_of_id) WHERE reblog_of_id IS NOT NULL;
CREATE INDEX statuses_reblog_of_id ON statuses (reblog_of_id) WHERE reblog_of_id IS NOT NULL;
-- a thread's descendants are found by walking replies down
CREATE INDEX statuses_in_reply_to_id ON statuses (in_reply_to_id) WHERE in_reply_to_id IS NOT NULL;
-- the public timeline pages public statuses newest first
CREATE INDEX statuses_public_id ON statuses (id DESC) WHERE visibility = 'public';

CREATE TABLE favourites (
    account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    status_id  bigint NOT NULL REFERENCES statuses ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (status_id, account_id)
);
CREATE INDEX favourites_account ON favourites (account_id, status_id);
