-- Master-key rotation lists the versions not under the current master key
-- in (master_key_id, key_id, version) order and counts versions per master
-- key: both read this index, which holds only versions with material.
CREATE INDEX key_versions_master ON key_versions (master_key_id, key_id, version)
    WHERE destroyed_at IS NULL;
