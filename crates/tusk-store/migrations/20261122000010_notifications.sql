-- Notifications, their groups (Mastodon 4.3's grouped notifications), markers, and the mentions
-- and hashtags parsed from a status's text.

-- One notification per recipient, type, sender and status: a favourite taken back and given
-- again, or an event delivered twice, finds its row and adds nothing. The workers write them.
CREATE TABLE notifications (
    id              bigint PRIMARY KEY DEFAULT tusk_snowflake(),
    account_id      bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,  -- the recipient
    type            text NOT NULL,
    from_account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    status_id       bigint REFERENCES statuses ON DELETE CASCADE,
    -- `{type}-{status}-{hour}` for the grouped types, `ungrouped-{id}` for the others
    group_key       text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX notifications_once
    ON notifications (account_id, type, from_account_id, coalesce(status_id, 0));
-- a recipient's notifications, newest first (v1 pages, unread counts)
CREATE INDEX notifications_account_id ON notifications (account_id, id DESC);
-- one group's notifications (the group's page, its samples when a member goes)
CREATE INDEX notifications_group ON notifications (account_id, group_key, id DESC);
CREATE INDEX notifications_from_account ON notifications (from_account_id);
CREATE INDEX notifications_status ON notifications (status_id) WHERE status_id IS NOT NULL;

-- Each group's summary, kept by triggers on `notifications` as `status_stats` is kept for
-- statuses, so that the grouped page of an account holding 100,000 notifications reads one
-- row per group instead of aggregating them per read.
CREATE TABLE notification_groups (
    account_id             bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    group_key              text NOT NULL,
    type                   text NOT NULL,
    status_id              bigint,
    notifications_count    bigint NOT NULL,
    latest_notification_id bigint NOT NULL,
    latest_at              timestamptz NOT NULL,
    -- the latest senders, newest first, at most 8
    sample_account_ids     bigint[] NOT NULL,
    PRIMARY KEY (account_id, group_key)
);
CREATE INDEX notification_groups_page ON notification_groups (account_id, latest_notification_id DESC);

CREATE FUNCTION tusk_group_notification() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO notification_groups AS g (account_id, group_key, type, status_id, notifications_count,
                                          latest_notification_id, latest_at, sample_account_ids)
    VALUES (NEW.account_id, NEW.group_key, NEW.type, NEW.status_id, 1, NEW.id, NEW.created_at,
            ARRAY[NEW.from_account_id])
    ON CONFLICT (account_id, group_key) DO UPDATE SET
        notifications_count = g.notifications_count + 1,
        latest_notification_id = greatest(g.latest_notification_id, NEW.id),
        latest_at = greatest(g.latest_at, NEW.created_at),
        sample_account_ids = CASE WHEN NEW.id > g.latest_notification_id
            THEN (NEW.from_account_id || array_remove(g.sample_account_ids, NEW.from_account_id))[1:8]
            ELSE g.sample_account_ids END;
    RETURN NULL;
END $$;

-- after a statement removed notifications (a dismissal, a clear, a deleted status or account),
-- each group they belonged to is summed up again once, or goes when it is empty
CREATE FUNCTION tusk_regroup_notifications() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH touched AS (SELECT DISTINCT account_id, group_key FROM gone),
    summed AS (
        SELECT t.account_id, t.group_key, s.count, s.latest, s.latest_at,
               ARRAY(SELECT from_account_id FROM notifications n
                     WHERE n.account_id = t.account_id AND n.group_key = t.group_key
                     GROUP BY from_account_id ORDER BY max(n.id) DESC LIMIT 8) AS sample
        FROM touched t
        CROSS JOIN LATERAL (SELECT count(*) AS count, max(id) AS latest, max(created_at) AS latest_at
                            FROM notifications n
                            WHERE n.account_id = t.account_id AND n.group_key = t.group_key) s
    ),
    emptied AS (
        DELETE FROM notification_groups g USING summed s
        WHERE g.account_id = s.account_id AND g.group_key = s.group_key AND s.count = 0
    )
    UPDATE notification_groups g
    SET notifications_count = s.count, latest_notification_id = s.latest, latest_at = s.latest_at,
        sample_account_ids = s.sample
    FROM summed s
    WHERE g.account_id = s.account_id AND g.group_key = s.group_key AND s.count > 0;
    RETURN NULL;
END $$;

CREATE TRIGGER notifications_group AFTER INSERT ON notifications
    FOR EACH ROW EXECUTE FUNCTION tusk_group_notification();
CREATE TRIGGER notifications_regroup AFTER DELETE ON notifications
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION tusk_regroup_notifications();

-- Where an account stopped reading its home and its notifications (Mastodon's markers).
CREATE TABLE markers (
    account_id   bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    timeline     text NOT NULL CHECK (timeline IN ('home', 'notifications')),
    last_read_id bigint NOT NULL,
    version      integer NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, timeline)
);

-- The local accounts a status mentions (they are notified, and see it when it is direct).
CREATE TABLE mentions (
    status_id  bigint NOT NULL REFERENCES statuses ON DELETE CASCADE,
    account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    PRIMARY KEY (status_id, account_id)
);
CREATE INDEX mentions_account_id ON mentions (account_id, status_id DESC);

-- Hashtags, one row per name case-insensitively (the first spelling is kept, as Mastodon does),
-- and the statuses that use them; the hashtag timelines will page them.
CREATE TABLE tags (
    id         bigint PRIMARY KEY DEFAULT tusk_snowflake(),
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tags_name_lower ON tags (lower(name));

CREATE TABLE statuses_tags (
    status_id bigint NOT NULL REFERENCES statuses ON DELETE CASCADE,
    tag_id    bigint NOT NULL REFERENCES tags ON DELETE CASCADE,
    PRIMARY KEY (tag_id, status_id)
);
CREATE INDEX statuses_tags_status_id ON statuses_tags (status_id);
