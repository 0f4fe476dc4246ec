-- KMIP Names of keys that are not destroyed, one row per Name: the
-- primary key makes a Name unique among them, for every process sharing
-- the database, and finds a key by Name without reading every key. The
-- key store keeps it in step with keys.attributes ("names") in the
-- transaction that writes the key; a destroyed key's Names are released.
CREATE TABLE key_names (
    name   TEXT NOT NULL PRIMARY KEY,
    key_id TEXT NOT NULL REFERENCES keys (id)
) STRICT;

CREATE INDEX key_names_key_id ON key_names (key_id);

-- Backfill. Names were unique before, enforced by a check in one
-- process; should two keys hold the same Name anyway (two processes that
-- raced), the oldest key keeps it (created_at, then id) and the other
-- keeps it in its attributes only: it is not found by that Name, and the
-- next change of its Names that keeps it fails until it drops the Name.
INSERT OR IGNORE INTO key_names (name, key_id)
SELECT n.value, k.id
FROM keys AS k, json_each(k.attributes, '$.names') AS n
WHERE k.state <> 'destroyed' AND n.type = 'text'
ORDER BY k.created_at, k.id;
