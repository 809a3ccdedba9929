-- Media: uploads, processed by the workers into object storage. The rows live here, the bytes
-- in object storage under keys built from the row's id and a random token (tusk-media's
-- `variant_key`), never guessable from the id alone.
CREATE TABLE media_attachments (
    id           bigint PRIMARY KEY DEFAULT tusk_snowflake(),
    account_id   bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    -- set when a status is posted with it; a deleted status leaves it unattached, and the
    -- periodic sweep removes unattached media older than a day (bytes first, then the row)
    status_id    bigint REFERENCES statuses ON DELETE SET NULL,
    -- its place among the status's attachments (the order of `media_ids`)
    position     smallint,
    -- Mastodon's `type`: image, gifv, video; `unknown` until processed
    kind         text NOT NULL DEFAULT 'unknown' CHECK (kind IN ('unknown', 'image', 'gifv', 'video')),
    state        text NOT NULL DEFAULT 'processing' CHECK (state IN ('processing', 'done', 'failed')),
    -- why processing failed, as the client is told
    error        text,
    token        text NOT NULL,
    -- the raw upload, until a worker processed it
    upload_key   text,
    -- a custom preview sent with the upload (`thumbnail`), raw, until processed
    thumbnail_key text,
    original_key text,
    small_key    text,
    -- Mastodon's `meta` without `focus` (original/small sizes, duration, fps)
    meta         jsonb NOT NULL DEFAULT '{}',
    description  text NOT NULL DEFAULT '',
    focus_x      real NOT NULL DEFAULT 0 CHECK (focus_x BETWEEN -1 AND 1),
    focus_y      real NOT NULL DEFAULT 0 CHECK (focus_y BETWEEN -1 AND 1),
    blurhash     text,
    file_size    bigint,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- when a worker took it up: an upload not taken up within a moment waits in a backlog, and
    -- `POST /api/v2/media` answers 202 at once rather than waiting for it
    started_at   timestamptz,
    processed_at timestamptz
);
CREATE INDEX media_attachments_status ON media_attachments (status_id, position) WHERE status_id IS NOT NULL;
-- the sweep of unattached uploads and of processing that never ended
CREATE INDEX media_attachments_unattached ON media_attachments (created_at) WHERE status_id IS NULL;

-- One attachment as the statuses query and the media endpoints read it: one definition, so the
-- status entity cache and GET /api/v1/media/:id render the same fields.
CREATE FUNCTION tusk_media_json(m media_attachments) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', m.id::text, 'account_id', m.account_id::text, 'status_id', m.status_id::text,
        'kind', m.kind, 'state', m.state, 'error', m.error,
        'original_key', m.original_key, 'small_key', m.small_key, 'meta', m.meta,
        'description', m.description, 'focus_x', m.focus_x, 'focus_y', m.focus_y,
        'blurhash', m.blurhash, 'started', m.started_at IS NOT NULL)
$$;

-- Avatars and headers: the keys of their processed variants (the static one differs when the
-- picture is animated); NULL shows the default picture.
ALTER TABLE accounts
    ADD COLUMN avatar_key text,
    ADD COLUMN avatar_static_key text,
    ADD COLUMN header_key text,
    ADD COLUMN header_static_key text;
