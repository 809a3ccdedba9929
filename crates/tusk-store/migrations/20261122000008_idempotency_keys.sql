-- An `Idempotency-Key` of `POST /api/v1/statuses` (its sha256), written in the same transaction
-- as the status it created: a retry finds it on any replica, after a crash between the commit and
-- the answer, and after Redis is flushed. Two requests racing with one key meet on the primary
-- key, so only one status is created. A key names its status for an hour, as in Mastodon; the
-- workers delete older rows (Store::expire_idempotency_keys). `status_id` has no foreign key: a
-- retry for a status deleted since gets 404, as in Mastodon.
CREATE TABLE status_idempotency_keys (
    account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    key_digest bytea NOT NULL,
    status_id  bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, key_digest)
);
CREATE INDEX status_idempotency_keys_created_at ON status_idempotency_keys (created_at);
