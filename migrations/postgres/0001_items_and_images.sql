-- Items: the catalogue. IDENTITY ids come from a sequence and are never reused.
-- Prices are exact NUMERIC(14,2); timestamps are TIMESTAMPTZ (microseconds, UTC).
CREATE TABLE items (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT          NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    description TEXT                   CHECK (description IS NULL OR char_length(description) <= 5000),
    price       NUMERIC(14,2)          CHECK (price IS NULL OR price BETWEEN 0 AND 999999999999.99),
    created_at  TIMESTAMPTZ   NOT NULL,
    updated_at  TIMESTAMPTZ   NOT NULL
);

-- Images: metadata of durable objects. UUIDv7 ids compare in creation order, so the
-- primary key alone serves "newest first".
CREATE TABLE images (
    id           UUID        PRIMARY KEY,
    filename     TEXT        NOT NULL,
    content_type TEXT        NOT NULL,
    size         BIGINT      NOT NULL CHECK (size > 0),
    width        INTEGER     NOT NULL CHECK (width > 0),
    height       INTEGER     NOT NULL CHECK (height > 0),
    sha256       TEXT        NOT NULL,
    location     TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);
