-- KMIP attributes of a key that the registry does not model itself (names,
-- object group, usage mask, algorithm and length, custom x- attributes):
-- one JSON object per key (kms.Attributes), '{}' when there are none.
ALTER TABLE keys ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
