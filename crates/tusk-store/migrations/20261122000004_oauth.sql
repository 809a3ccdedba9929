-- Authorization codes of the `authorization_code` grant: single-use, short-lived, stored as a
-- sha256 hash and bound to the app, the user, the redirect URI, the scopes and the PKCE challenge.
CREATE TABLE oauth_access_grants (
    id             bigint PRIMARY KEY DEFAULT tusk_snowflake(),
    code_hash      bytea NOT NULL UNIQUE,
    application_id bigint NOT NULL REFERENCES oauth_applications ON DELETE CASCADE,
    account_id     bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    redirect_uri   text NOT NULL,
    scopes         text NOT NULL,
    code_challenge text,  -- base64url(sha256(code_verifier)); NULL when the app sent no PKCE
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz
);
CREATE INDEX oauth_access_grants_expiry ON oauth_access_grants (expires_at);

-- Browser sign-ins on the /oauth/authorize page: the cookie's sha256 and who signed in.
CREATE TABLE oauth_browser_sessions (
    cookie_hash bytea PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX oauth_browser_sessions_expiry ON oauth_browser_sessions (expires_at);
