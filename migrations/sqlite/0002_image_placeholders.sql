-- A ThumbHash placeholder per image (base64), made in the background after upload:
-- null until it exists.
ALTER TABLE images ADD COLUMN placeholder TEXT CHECK (placeholder IS NULL OR length(placeholder) <= 64);
