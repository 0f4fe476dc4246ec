-- KMIP Names of keys that are not destroyed, one row per Name: the
-- primary key makes a Name unique among them, for every process sharing
-- the database, and finds a key by Name without reading every key. The
-- key store keeps it in step with keys.attributes ("names") in the
-- transaction that writes the key; a destroyed key's Names are released.
CREATE TABLE key_names (
    name   text COLLATE "C" PRIMARY KEY,
    key_id text COLLATE "C" NOT NULL REFERENCES keys (id)
);

CREATE INDEX key_names_key_id ON key_names (key_id);

-- Backfill. Names were unique before, enforced by a check in one
-- process; should two keys hold the same Name anyway (two processes that
-- raced), the oldest key keeps it (created_at, then id) and the other
-- keeps it in its attributes only: it is not found by that Name, and the
-- next change of its Names that keeps it fails until it drops the Name.
INSERT INTO key_names (name, key_id)
SELECT DISTINCT ON (n.name) n.name, k.id
FROM keys AS k
CROSS JOIN LATERAL jsonb_array_elements_text(
    CASE WHEN jsonb_typeof(k.attributes::jsonb -> 'names') = 'array'
         THEN k.attributes::jsonb -> 'names' ELSE '[]'::jsonb END) AS n (name)
WHERE k.state <> 'destroyed'
ORDER BY n.name, k.created_at, k.id;
