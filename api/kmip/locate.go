package kmip

import (
	"slices"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"

	"github.com/s3kms/s3kms/kms"
)

// maxLocate bounds the identifiers one Locate returns when the request
// sets no Maximum Items.
const maxLocate = 1000

// filter is one Locate criterion: a key matches when match says so.
type filter func(k kms.Key) bool

// locateFilters turns Locate's attributes into filters. Supported: Name,
// Object Type, State, Object Group, Cryptographic Algorithm and Length,
// Unique Identifier, Alternative Name, Application Specific Information
// and custom attributes; anything else is refused rather than silently
// ignored.
func locateFilters(c call) ([]filter, bool, error) {
	attrs, err := requestAttributes(c, false)
	if err != nil {
		return nil, false, err
	}
	var fs []filter
	stateGiven := false
	for _, a := range attrs {
		switch {
		case a.name == attrUniqueIdentifier:
			id, err := textValue(a)
			if err != nil {
				return nil, false, err
			}
			fs = append(fs, func(k kms.Key) bool { return k.ID == id })
		case a.name == attrAlternativeName || a.name == attrAppInfo:
			f, err := listFilter(mutableAttrs[a.name], a)
			if err != nil {
				return nil, false, err
			}
			fs = append(fs, f)
		case a.name == attrName:
			n, err := nameValue(a.value)
			if err != nil {
				return nil, false, err
			}
			fs = append(fs, func(k kms.Key) bool { return slices.Contains(k.Attributes.Names, n) })
		case a.name == attrObjectGroup:
			g, err := textValue(a)
			if err != nil {
				return nil, false, err
			}
			fs = append(fs, func(k kms.Key) bool { return slices.Contains(k.Attributes.ObjectGroups, g) })
		case a.name == attrObjectType:
			t, err := enumValue(a)
			if err != nil {
				return nil, false, err
			}
			fs = append(fs, func(k kms.Key) bool { return objectTypeOf(k) == kmip14.ObjectType(t) })
		case a.name == attrState:
			s, err := enumValue(a)
			if err != nil {
				return nil, false, err
			}
			stateGiven = true
			fs = append(fs, func(k kms.Key) bool { return kmipState(k.State) == kmip14.State(s) })
		case a.name == attrAlgorithm:
			v, err := enumValue(a)
			if err != nil {
				return nil, false, err
			}
			fs = append(fs, func(k kms.Key) bool {
				alg, _, ok := cryptoOf(k)
				return ok && alg == kmip14.CryptographicAlgorithm(v)
			})
		case a.name == attrLength:
			v, err := intValue(a)
			if err != nil {
				return nil, false, err
			}
			fs = append(fs, func(k kms.Key) bool {
				_, length, ok := cryptoOf(k)
				return ok && length == v
			})
		case isCustom(a.name): // 1.x x-/y- names, 2.0 vendor attributes
			f, err := customFilter(a)
			if err != nil {
				return nil, false, err
			}
			fs = append(fs, f)
		default:
			return nil, false, fieldError("Locate by attribute %q is not supported", a.name)
		}
	}
	return fs, stateGiven, nil
}

// locate answers Locate: the ids of the KMIP objects the caller may read
// that match every given attribute, in id order, after skipping Offset
// Items and up to Maximum Items. Destroyed keys are found only when the
// request asks for the Destroyed state. The first id found becomes the
// batch's ID Placeholder.
func (h *handler) locate(c call) (encodeFunc, error) {
	maxItems, offset := int32(maxLocate), int32(0)
	paging := false
	if n, ok := c.payload.child(kmip14.TagMaximumItems); ok {
		paging = true
		v, err := n.integer()
		if err != nil || v < 0 {
			return nil, fieldError("invalid Maximum Items")
		}
		if v > 0 && v < maxItems {
			maxItems = v
		}
	}
	if n, ok := c.payload.child(kmip14.TagOffsetItems); ok {
		paging = true
		v, err := n.integer()
		if err != nil || v < 0 {
			return nil, fieldError("invalid Offset Items")
		}
		offset = v
	}
	fs, stateGiven, err := locateFilters(c)
	if err != nil {
		return nil, err
	}
	var found []string
	matched := int32(0)
	after := ""
	for {
		keys, next, err := h.locateCandidates(c, after)
		if err != nil {
			return nil, err
		}
	keys:
		for _, k := range keys {
			if !kmipObject(k) || (k.State == kms.StateDestroyed && !stateGiven) {
				continue
			}
			for _, f := range fs {
				if !f(k) {
					continue keys
				}
			}
			matched++
			if matched > offset && int32(len(found)) < maxItems {
				found = append(found, k.ID)
			}
		}
		if next == "" {
			break
		}
		after = next
	}
	if len(found) > 0 {
		*c.placeholder = found[0]
	}
	return func(e *ttlv.Encoder) error {
		// Located Items (1.3 and later) counts every match; sent when the
		// client pages (KMIP lets the server omit it).
		if paging && (c.version.major >= 2 || c.version.minor >= 3) {
			e.EncodeInteger(kmip14.TagLocatedItems, matched)
		}
		for _, id := range found {
			e.EncodeTextString(kmip14.TagUniqueIdentifier, id)
		}
		return nil
	}, nil
}

// idCandidates returns the key Locate has to consider when the request
// gives a Unique Identifier: that key, read directly (none if it does not
// exist or the caller may not read it: a scan would not list it either).
// byID is false when no Unique Identifier is given. The other filters
// (further Unique Identifiers included) still apply to the candidate.
func (h *handler) idCandidates(c call) (keys []kms.Key, byID bool, err error) {
	attrs, err := requestAttributes(c, false)
	if err != nil {
		return nil, false, err
	}
	for _, a := range attrs {
		if a.name != attrUniqueIdentifier {
			continue
		}
		id, err := textValue(a)
		if err != nil {
			return nil, false, err
		}
		info, err := h.svc.GetKey(c.ctx, id)
		switch kms.ErrorCode(err) {
		case "":
			return []kms.Key{info.Key}, true, nil
		case kms.ENotFound, kms.EForbidden, kms.EInvalid: // EInvalid: not a key id
			return nil, true, nil
		default:
			return nil, false, err
		}
	}
	return nil, false, nil
}
