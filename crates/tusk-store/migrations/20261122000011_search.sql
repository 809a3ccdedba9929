-- Account search (@-autocomplete, `toot follow NAME`): case-insensitive prefixes of the
-- username and the display name, read through these indexes however many accounts there are;
-- hashtag search by prefix likewise.
CREATE INDEX accounts_username_prefix ON accounts (lower(username) text_pattern_ops);
CREATE INDEX accounts_display_name_prefix ON accounts (lower(display_name) text_pattern_ops);
CREATE INDEX tags_name_prefix ON tags (lower(name) text_pattern_ops);
