-- Items: the catalogue. AUTOINCREMENT so ids are never reused (keyset paging and
-- Location headers stay meaningful after deletes). Prices are whole cents (exact).
CREATE TABLE items (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description TEXT             CHECK (description IS NULL OR length(description) <= 5000),
    price_cents INTEGER          CHECK (price_cents IS NULL OR price_cents BETWEEN 0 AND 99999999999999),
    created_at  INTEGER NOT NULL, -- microseconds since the Unix epoch, UTC
    updated_at  INTEGER NOT NULL
);

-- Images: metadata of durable objects. UUIDv7 text ids sort by creation time, so the
-- primary key alone serves "newest first".
CREATE TABLE images (
    id           TEXT    PRIMARY KEY NOT NULL,
    filename     TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    size         INTEGER NOT NULL CHECK (size > 0),
    width        INTEGER NOT NULL CHECK (width > 0),
    height       INTEGER NOT NULL CHECK (height > 0),
    sha256       TEXT    NOT NULL,
    location     TEXT    NOT NULL,
    created_at   INTEGER NOT NULL
) WITHOUT ROWID;
