-- Objects are content-addressed (objects/AB/<sha256>) and shared by the images with the
-- same bytes: one row per object counts its images, and marks it dead while it is being
-- deleted (its last image went: the object is removed, then this row). An image insert
-- increments in the same transaction and refuses a dead row (the upload waits for the
-- deletion to finish), so no object is ever deleted under a live reference.
CREATE TABLE objects (
    sha256 TEXT    PRIMARY KEY,
    refs   BIGINT  NOT NULL CHECK (refs >= 0),
    dead   BOOLEAN NOT NULL DEFAULT false,
    -- When it was marked dead: only its elected deleter finishes a fresh deletion; one
    -- older than the sweep's grace was cut short.
    dead_since TIMESTAMPTZ
);

-- The images stored before: each already references its object.
INSERT INTO objects (sha256, refs) SELECT sha256, COUNT(*) FROM images GROUP BY sha256;
