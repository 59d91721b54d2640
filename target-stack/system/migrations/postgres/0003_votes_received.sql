-- Rankings read a count kept with the votes instead of counting every vote on each request
-- (the aggregate over all votes was the API's top cost: bench/api.py, docs/performance.md).
-- Keep in step with ../sqlite/0003_votes_received.sql.
ALTER TABLE users ADD COLUMN votes_received BIGINT NOT NULL DEFAULT 0;
UPDATE users SET votes_received = (
    SELECT COUNT(*) FROM votes JOIN videos ON videos.id = votes.video_id
    WHERE videos.owner_id = users.id);

-- The count follows every write to votes, whoever makes it, in the writer's transaction.
CREATE FUNCTION count_vote() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE users SET votes_received = votes_received + 1
        WHERE id = (SELECT owner_id FROM videos WHERE id = NEW.video_id);
    ELSE
        UPDATE users SET votes_received = votes_received - 1
        WHERE id = (SELECT owner_id FROM videos WHERE id = OLD.video_id);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER votes_count AFTER INSERT OR DELETE ON votes
    FOR EACH ROW EXECUTE FUNCTION count_vote();

-- A deleted video's votes go first, while the video still names its owner (the foreign
-- key's cascade would delete them after it, when the owner can no longer be found).
CREATE FUNCTION delete_video_votes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM votes WHERE video_id = OLD.id;
    RETURN OLD;
END $$;
CREATE TRIGGER videos_delete_votes BEFORE DELETE ON videos
    FOR EACH ROW EXECUTE FUNCTION delete_video_votes();

-- The rankings, overall and per city, read in index order and stop at the page.
CREATE INDEX users_ranking ON users (votes_received DESC, id) WHERE votes_received > 0;
CREATE INDEX users_city_ranking ON users (city_key, votes_received DESC, id)
    WHERE votes_received > 0;
