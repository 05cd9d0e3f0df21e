-- Limited resources: applications, workspaces and user groups, one registry
-- per kind and org. Rows are deleted with their item (the audit trail keeps
-- its history) and when their org is deleted.
CREATE TABLE resources (
    org_id     TEXT NOT NULL REFERENCES orgs (id),
    kind       TEXT NOT NULL,
    id         TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    metadata   TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (org_id, kind, id)
) STRICT, WITHOUT ROWID;

CREATE UNIQUE INDEX resources_name ON resources (org_id, kind, name);
CREATE UNIQUE INDEX resources_id ON resources (id);
