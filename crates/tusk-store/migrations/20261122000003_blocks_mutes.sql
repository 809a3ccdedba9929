-- Blocks end follows both ways and keep them ended; mutes keep an account out of the muter's
-- home feed (the fan-out skips muters).
CREATE TABLE blocks (
    account_id        bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    target_account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, target_account_id)
);
CREATE INDEX blocks_target ON blocks (target_account_id, account_id);

CREATE TABLE mutes (
    account_id        bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    target_account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, target_account_id)
);
-- the fan-out checks, per follower, whether it mutes the author
CREATE INDEX mutes_target ON mutes (target_account_id, account_id);
