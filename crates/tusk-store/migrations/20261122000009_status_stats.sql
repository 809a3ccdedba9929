-- A status's counts (replies, reblogs, favourites) kept as counters, as Mastodon's
-- `status_stats`, instead of three count(*) per status per read. Triggers update them in the
-- transaction of the write that moves them, so no write path can forget one. No foreign key:
-- a reply racing its parent's deletion must not fail; the parent's row goes with the parent.
CREATE TABLE status_stats (
    status_id        bigint PRIMARY KEY,
    replies_count    bigint NOT NULL DEFAULT 0,
    reblogs_count    bigint NOT NULL DEFAULT 0,
    favourites_count bigint NOT NULL DEFAULT 0
);

-- a reply or a reblog counts on the status it answers or reblogs; a deleted status takes its
-- own row away (cascaded deletes of its reblogs and favourites then find nothing to decrement)
CREATE FUNCTION tusk_count_statuses() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.in_reply_to_id IS NOT NULL THEN
            INSERT INTO status_stats (status_id, replies_count) VALUES (NEW.in_reply_to_id, 1)
            ON CONFLICT (status_id) DO UPDATE SET replies_count = status_stats.replies_count + 1;
        END IF;
        IF NEW.reblog_of_id IS NOT NULL THEN
            INSERT INTO status_stats (status_id, reblogs_count) VALUES (NEW.reblog_of_id, 1)
            ON CONFLICT (status_id) DO UPDATE SET reblogs_count = status_stats.reblogs_count + 1;
        END IF;
    ELSE
        DELETE FROM status_stats WHERE status_id = OLD.id;
        IF OLD.in_reply_to_id IS NOT NULL THEN
            UPDATE status_stats SET replies_count = replies_count - 1 WHERE status_id = OLD.in_reply_to_id;
        END IF;
        IF OLD.reblog_of_id IS NOT NULL THEN
            UPDATE status_stats SET reblogs_count = reblogs_count - 1 WHERE status_id = OLD.reblog_of_id;
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION tusk_count_favourites() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO status_stats (status_id, favourites_count) VALUES (NEW.status_id, 1)
        ON CONFLICT (status_id) DO UPDATE SET favourites_count = status_stats.favourites_count + 1;
    ELSE
        UPDATE status_stats SET favourites_count = favourites_count - 1 WHERE status_id = OLD.status_id;
    END IF;
    RETURN NULL;
END $$;

-- writes wait while the counters are built, so none is counted twice or missed
LOCK TABLE statuses, favourites IN SHARE MODE;

CREATE TRIGGER statuses_count AFTER INSERT OR DELETE ON statuses
    FOR EACH ROW EXECUTE FUNCTION tusk_count_statuses();
CREATE TRIGGER favourites_count AFTER INSERT OR DELETE ON favourites
    FOR EACH ROW EXECUTE FUNCTION tusk_count_favourites();

INSERT INTO status_stats (status_id, replies_count, reblogs_count, favourites_count)
SELECT c.id, sum(c.replies)::bigint, sum(c.reblogs)::bigint, sum(c.favourites)::bigint
FROM (
    SELECT in_reply_to_id AS id, count(*) AS replies, 0 AS reblogs, 0 AS favourites
    FROM statuses WHERE in_reply_to_id IS NOT NULL GROUP BY in_reply_to_id
    UNION ALL
    SELECT reblog_of_id, 0, count(*), 0 FROM statuses WHERE reblog_of_id IS NOT NULL GROUP BY reblog_of_id
    UNION ALL
    SELECT status_id, 0, 0, count(*) FROM favourites GROUP BY status_id
) c
WHERE EXISTS (SELECT 1 FROM statuses s WHERE s.id = c.id)
GROUP BY c.id;
