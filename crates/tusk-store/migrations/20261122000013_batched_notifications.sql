-- Notifications in batches, for a favourite storm on a popular post.
--
-- Events the request leaves to the relay (a favourite's notification): the relay takes them at
-- once, without the wait it gives the api to publish its own, and coalesces them per status,
-- so that the workers write a batch of notifications per statement.
ALTER TABLE outbox ADD COLUMN deferred boolean NOT NULL DEFAULT false;

-- The groups are summed up once per statement, not once per notification: a batch of 500
-- favourites of one post is one update of its group (a row trigger made it 500 updates of one
-- row, each a dead version in the group page's index until vacuum).
DROP TRIGGER notifications_group ON notifications;
DROP FUNCTION tusk_group_notification();

-- `newer`, then those of `older` not in it, at most 8 (a group's latest senders, newest first)
CREATE FUNCTION tusk_merge_samples(newer bigint[], older bigint[]) RETURNS bigint[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(array_agg(id ORDER BY pos), '{}')
    FROM (SELECT id, min(pos) AS pos FROM unnest(newer || older) WITH ORDINALITY AS u(id, pos)
          GROUP BY id ORDER BY min(pos) LIMIT 8) firsts
$$;

CREATE FUNCTION tusk_group_notifications() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH senders AS (
        SELECT account_id, group_key, from_account_id, max(id) AS latest
        FROM added GROUP BY account_id, group_key, from_account_id
    ),
    samples AS (
        SELECT account_id, group_key, (array_agg(from_account_id ORDER BY latest DESC))[1:8] AS sample
        FROM senders GROUP BY account_id, group_key
    ),
    sums AS (
        SELECT account_id, group_key, min(type) AS type, min(status_id) AS status_id, count(*) AS n,
               max(id) AS latest, max(created_at) AS latest_at
        FROM added GROUP BY account_id, group_key
    )
    INSERT INTO notification_groups AS g (account_id, group_key, type, status_id, notifications_count,
                                          latest_notification_id, latest_at, sample_account_ids)
    SELECT s.account_id, s.group_key, s.type, s.status_id, s.n, s.latest, s.latest_at, p.sample
    FROM sums s JOIN samples p USING (account_id, group_key)
    ON CONFLICT (account_id, group_key) DO UPDATE SET
        notifications_count = g.notifications_count + EXCLUDED.notifications_count,
        latest_notification_id = greatest(g.latest_notification_id, EXCLUDED.latest_notification_id),
        latest_at = greatest(g.latest_at, EXCLUDED.latest_at),
        sample_account_ids = CASE WHEN EXCLUDED.latest_notification_id > g.latest_notification_id
            THEN tusk_merge_samples(EXCLUDED.sample_account_ids, g.sample_account_ids)
            ELSE tusk_merge_samples(g.sample_account_ids, EXCLUDED.sample_account_ids) END;
    RETURN NULL;
END $$;

CREATE TRIGGER notifications_group AFTER INSERT ON notifications
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION tusk_group_notifications();
