package kmip

import (
	"github.com/gemalto/kmip-go/kmip14"

	"github.com/s3kms/s3kms/kms"
)

// locateCandidates returns the page after `after` of the keys Locate
// considers, and the cursor of the next page ("" at the end): when the
// request gives a Unique Identifier, that key (see idCandidates); when it
// gives a Name, the key holding it (see nameCandidates); else the keys the
// caller may read, in id order.
func (h *handler) locateCandidates(c call, after string) ([]kms.Key, string, error) {
	if keys, byID, err := h.idCandidates(c); err != nil || byID {
		return keys, "", err
	}
	keys, byName, err := h.nameCandidates(c)
	if err != nil || byName {
		return keys, "", err
	}
	return h.svc.ListKeys(c.ctx, after, kms.MaxListLimit)
}

// nameCandidates returns the keys Locate has to consider when the request
// filters by Name: the one key, not destroyed, that holds the Name
// (kms.Service.FindKeyByName, an indexed lookup), if the caller may read
// it. byName is false when Locate must scan every key instead: no Name is
// given, or a State filter asks for destroyed keys, whose Names are
// released (they keep them in their attributes, where only a scan finds
// them). The other filters (further Names included), Purpose and paging
// still apply to the candidates.
func (h *handler) nameCandidates(c call) (keys []kms.Key, byName bool, err error) {
	attrs, err := requestAttributes(c, false)
	if err != nil {
		return nil, false, err
	}
	name := ""
	for _, a := range attrs {
		switch a.name {
		case attrName:
			n, err := nameValue(a.value)
			if err != nil {
				return nil, false, err
			}
			if name == "" {
				name = n // a key holding every Name given holds this one
			}
		case attrState:
			s, err := enumValue(a)
			if err != nil {
				return nil, false, err
			}
			if st := kmip14.State(s); st == kmip14.StateDestroyed || st == kmip14.StateDestroyedCompromised {
				return nil, false, nil
			}
		}
	}
	if name == "" {
		return nil, false, nil
	}
	k, err := h.svc.FindKeyByName(c.ctx, name)
	switch {
	case kms.ErrorCode(err) == kms.ENotFound:
		return nil, true, nil
	case err != nil:
		return nil, false, err
	}
	return []kms.Key{k}, true, nil
}
