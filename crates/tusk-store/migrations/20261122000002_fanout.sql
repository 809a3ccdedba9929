-- Hybrid fan-out: an account with more followers than TUSK_HYBRID_THRESHOLD is not pushed into
-- its followers' home feeds; their reads pull its statuses instead. Set by the fan-out planner.
ALTER TABLE accounts ADD COLUMN hybrid boolean NOT NULL DEFAULT false;
CREATE INDEX accounts_hybrid ON accounts (id) WHERE hybrid;
