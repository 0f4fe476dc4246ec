package rows

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/s3kms/s3kms/kms"
)

// HeldNames returns the Names a key in state holds in the key_names
// index: its distinct Names, sorted, or none once it is destroyed.
func HeldNames(state kms.State, names []string) []string {
	if state == kms.StateDestroyed {
		return nil
	}
	held := slices.Clone(names)
	slices.Sort(held)
	return slices.Compact(held)
}

// NameChanges returns the Names key k releases and takes when it replaces
// the stored row whose state and attributes column are oldState and
// oldAttrs. Only Names the write adds are taken: a Name that the key
// already listed stays as it was, indexed or not (see the backfill of
// migration 0007_key_names).
func NameChanges(oldState, oldAttrs string, k kms.Key) (release, take []string, err error) {
	var old kms.Attributes
	if err := json.Unmarshal([]byte(oldAttrs), &old); err != nil {
		return nil, nil, fmt.Errorf("key %q: attributes: %w", k.ID, err)
	}
	before := HeldNames(kms.State(oldState), old.Names)
	after := HeldNames(k.State, k.Attributes.Names)
	for _, n := range before {
		if _, found := slices.BinarySearch(after, n); !found {
			release = append(release, n)
		}
	}
	for _, n := range after {
		if _, found := slices.BinarySearch(before, n); !found {
			take = append(take, n)
		}
	}
	return release, take, nil
}
