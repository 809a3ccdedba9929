-- What apps open at launch besides the timelines: bookmarks, pinned statuses, the posting
-- defaults (`/api/v1/preferences`), and row ids that page blocks, mutes and favourites as
-- Mastodon pages them (by the block's, mute's or favourite's id, not the account's or status's).

-- a volatile default is evaluated per existing row: every row gets its own id
ALTER TABLE blocks ADD COLUMN id bigint NOT NULL DEFAULT tusk_snowflake();
CREATE UNIQUE INDEX blocks_account_id_id ON blocks (account_id, id DESC);
ALTER TABLE mutes ADD COLUMN id bigint NOT NULL DEFAULT tusk_snowflake();
CREATE UNIQUE INDEX mutes_account_id_id ON mutes (account_id, id DESC);
ALTER TABLE favourites ADD COLUMN id bigint NOT NULL DEFAULT tusk_snowflake();
CREATE UNIQUE INDEX favourites_account_id_id ON favourites (account_id, id DESC);

CREATE TABLE bookmarks (
    id         bigint PRIMARY KEY DEFAULT tusk_snowflake(),
    account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    status_id  bigint NOT NULL REFERENCES statuses ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, status_id)
);
-- `/api/v1/bookmarks` pages by this; the status's delete cascades through the other
CREATE INDEX bookmarks_account_id_id ON bookmarks (account_id, id DESC);
CREATE INDEX bookmarks_status_id ON bookmarks (status_id);

-- at most 5 per account (Mastodon's StatusPinValidator::PIN_LIMIT), checked in the pinning
-- transaction under a lock on the account's row
CREATE TABLE status_pins (
    id         bigint PRIMARY KEY DEFAULT tusk_snowflake(),
    account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    status_id  bigint NOT NULL REFERENCES statuses ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, status_id)
);
CREATE INDEX status_pins_status_id ON status_pins (status_id);

-- the posting defaults (Mastodon's user settings `default_privacy`, `default_sensitive`,
-- `default_language`): applied when a post leaves them out
ALTER TABLE users ADD COLUMN default_privacy text NOT NULL DEFAULT 'public'
    CHECK (default_privacy IN ('public', 'unlisted', 'private'));
ALTER TABLE users ADD COLUMN default_sensitive boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN default_language text;
