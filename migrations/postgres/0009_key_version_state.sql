-- Key rotation (issue 7): per-version state and automatic rotation.
--
-- key_versions.state is kms.KeyVersion.State: 'active' (opens and may be
-- rewrapped from; only the key's current version seals), 'deactivated'
-- (refuses to open or to be rewrapped from; can be activated again) or
-- 'destroyed' (material erased, final). Versions destroyed before this
-- migration (with their key) become 'destroyed'.
--
-- keys.rotation_period is kms.Key.RotationPeriod in whole seconds, 0 when
-- automatic rotation is off; keys.next_rotation is when the rotation loop
-- rotates the key next, NULL when off.
ALTER TABLE key_versions ADD COLUMN state text NOT NULL DEFAULT 'active'
    CHECK (state IN ('active', 'deactivated', 'destroyed'));
UPDATE key_versions SET state = 'destroyed' WHERE destroyed_at IS NOT NULL;

ALTER TABLE keys ADD COLUMN rotation_period bigint NOT NULL DEFAULT 0 CHECK (rotation_period >= 0);
ALTER TABLE keys ADD COLUMN next_rotation timestamptz;
CREATE INDEX keys_next_rotation ON keys (next_rotation) WHERE next_rotation IS NOT NULL;
