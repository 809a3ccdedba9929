-- Tusk's source of truth. Redis holds only what can be rebuilt from these tables.

-- Mastodon-style snowflake ids: (unix_ms << 16) | 16-bit sequence, minted here so that every
-- api replica agrees. `ts` lets a seeder mint ids for past times.
CREATE SEQUENCE tusk_id_seq CYCLE;

CREATE FUNCTION tusk_snowflake(ts timestamptz DEFAULT clock_timestamp()) RETURNS bigint
LANGUAGE sql VOLATILE AS $$
  SELECT (floor(extract(epoch FROM ts) * 1000)::bigint << 16) | (nextval('tusk_id_seq') & 65535)
$$;

CREATE TABLE accounts (
    id             bigint PRIMARY KEY DEFAULT tusk_snowflake(),
    username       text NOT NULL,
    display_name   text NOT NULL DEFAULT '',
    note           text NOT NULL DEFAULT '',
    locked         boolean NOT NULL DEFAULT false,
    bot            boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_status_at timestamptz
);
-- usernames are unique case-insensitively, as in Mastodon
CREATE UNIQUE INDEX accounts_username_lower ON accounts (lower(username));

CREATE TABLE users (
    id             bigint PRIMARY KEY DEFAULT tusk_snowflake(),
    account_id     bigint NOT NULL UNIQUE REFERENCES accounts ON DELETE CASCADE,
    email          text NOT NULL,
    password_hash  text NOT NULL,  -- argon2id PHC string
    locale         text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    -- drives write fan-out: only recently active users get their home feed kept warm
    last_active_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_lower ON users (lower(email));

CREATE TABLE oauth_applications (
    id                 bigint PRIMARY KEY DEFAULT tusk_snowflake(),
    name               text NOT NULL,
    website            text,
    redirect_uris      text NOT NULL,  -- newline-separated, as Doorkeeper keeps them
    scopes             text NOT NULL,
    client_id          text NOT NULL UNIQUE,
    client_secret_hash bytea NOT NULL, -- sha256; the secret is shown once, at registration
    created_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE oauth_access_tokens (
    id             bigint PRIMARY KEY DEFAULT tusk_snowflake(),
    token_hash     bytea NOT NULL UNIQUE,  -- sha256 of the bearer token; the token itself is never stored
    application_id bigint NOT NULL REFERENCES oauth_applications ON DELETE CASCADE,
    account_id     bigint REFERENCES accounts ON DELETE CASCADE,  -- NULL for client_credentials tokens
    scopes         text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz
);

CREATE TABLE statuses (
    id             bigint PRIMARY KEY DEFAULT tusk_snowflake(),
    account_id     bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    text           text NOT NULL,
    spoiler_text   text NOT NULL DEFAULT '',
    sensitive      boolean NOT NULL DEFAULT false,
    visibility     text NOT NULL CHECK (visibility IN ('public', 'unlisted', 'private', 'direct')),
    language       text,
    in_reply_to_id bigint,
    application_id bigint REFERENCES oauth_applications ON DELETE SET NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
-- an account's statuses newest first: profiles, follow merges and feed rebuilds
CREATE INDEX statuses_account_id_id ON statuses (account_id, id DESC);

CREATE TABLE follows (
    id                bigint PRIMARY KEY DEFAULT tusk_snowflake(),
    account_id        bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    target_account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, target_account_id)
);
-- fan-out pages an author's followers by this index
CREATE INDEX follows_target_account_id ON follows (target_account_id, account_id);

-- Transactional outbox: an event is written in the same transaction as the change it announces,
-- published to RabbitMQ after commit, and deleted once the broker confirmed it.
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    routing_key text NOT NULL,
    payload     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
