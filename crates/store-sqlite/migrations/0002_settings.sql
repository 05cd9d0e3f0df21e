-- Configs (limits) live on the org row: they are part of its versioned state.
ALTER TABLE orgs ADD COLUMN configs TEXT NOT NULL DEFAULT '{}';

CREATE TABLE org_tags (
    id         TEXT PRIMARY KEY NOT NULL,
    org_id     TEXT NOT NULL REFERENCES orgs (id),
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (org_id, name)
) STRICT;

-- Listing orgs by tag.
CREATE INDEX org_tags_name ON org_tags (name, org_id);
