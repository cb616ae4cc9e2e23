-- Objects are content-addressed (objects/AB/<sha256>) and shared by the images with the
-- same bytes: one row per object counts its images, and marks it dead while it is being
-- deleted (its last image went: the object is removed, then this row). An image insert
-- increments in the same transaction and refuses a dead row (the upload waits for the
-- deletion to finish), so no object is ever deleted under a live reference.
CREATE TABLE objects (
    sha256 TEXT    PRIMARY KEY NOT NULL,
    refs   INTEGER NOT NULL CHECK (refs >= 0),
    dead   INTEGER NOT NULL DEFAULT 0 CHECK (dead IN (0, 1)),
    -- When it was marked dead (microseconds since the epoch): only its elected deleter
    -- finishes a fresh deletion; one older than the sweep's grace was cut short.
    dead_since INTEGER
) WITHOUT ROWID;

-- The images stored before: each already references its object.
INSERT INTO objects (sha256, refs) SELECT sha256, COUNT(*) FROM images GROUP BY sha256;
