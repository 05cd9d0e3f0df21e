-- Each org keeps how many live children it has, kept by triggers in the same
-- transaction as the change: creating an org counted its parent's children
-- by scanning them, which grew with every child.
ALTER TABLE orgs ADD COLUMN live_children BIGINT NOT NULL DEFAULT 0;

UPDATE orgs o SET live_children = (
    SELECT count(*) FROM orgs c WHERE c.parent_id = o.id AND c.deleted_at IS NULL
);

CREATE FUNCTION orgs_count_live_children() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A move or a delete: the old parent loses a live child.
    IF TG_OP = 'UPDATE' AND OLD.parent_id IS NOT NULL AND OLD.deleted_at IS NULL THEN
        UPDATE orgs SET live_children = live_children - 1 WHERE id = OLD.parent_id;
    END IF;
    IF NEW.parent_id IS NOT NULL AND NEW.deleted_at IS NULL THEN
        UPDATE orgs SET live_children = live_children + 1 WHERE id = NEW.parent_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER orgs_live_children_insert AFTER INSERT ON orgs
    FOR EACH ROW EXECUTE FUNCTION orgs_count_live_children();

CREATE TRIGGER orgs_live_children_update AFTER UPDATE OF parent_id, deleted_at ON orgs
    FOR EACH ROW
    WHEN (OLD.parent_id IS DISTINCT FROM NEW.parent_id OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at)
    EXECUTE FUNCTION orgs_count_live_children();
