-- TUSK_REGISTRATIONS=approved: a user signed up while approval was required cannot use its
-- tokens until a moderator sets `approved`. Everyone signed up before stays approved.
ALTER TABLE users ADD COLUMN approved boolean NOT NULL DEFAULT true;
-- followers and following pages walk the follow rows newest first
CREATE INDEX follows_target_account_id_id ON follows (target_account_id, id DESC);
CREATE INDEX follows_account_id_id ON follows (account_id, id DESC);
