-- Each org keeps how many live children it has, kept by triggers in the same
-- transaction as the change: creating an org counted its parent's children
-- by scanning them, which grew with every child.
ALTER TABLE orgs ADD COLUMN live_children INTEGER NOT NULL DEFAULT 0;

UPDATE orgs SET live_children = (
    SELECT count(*) FROM orgs c WHERE c.parent_id = orgs.id AND c.deleted_at IS NULL
);

CREATE TRIGGER orgs_live_children_insert AFTER INSERT ON orgs
WHEN NEW.parent_id IS NOT NULL AND NEW.deleted_at IS NULL
BEGIN
    UPDATE orgs SET live_children = live_children + 1 WHERE id = NEW.parent_id;
END;

-- A move or a delete: the old parent loses a live child, the new one gains it.
CREATE TRIGGER orgs_live_children_update AFTER UPDATE OF parent_id, deleted_at ON orgs
WHEN OLD.parent_id IS NOT NEW.parent_id OR OLD.deleted_at IS NOT NEW.deleted_at
BEGIN
    UPDATE orgs SET live_children = live_children - 1
     WHERE id = OLD.parent_id AND OLD.deleted_at IS NULL;
    UPDATE orgs SET live_children = live_children + 1
     WHERE id = NEW.parent_id AND NEW.deleted_at IS NULL;
END;
