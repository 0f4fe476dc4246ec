package kmip

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"

	"github.com/s3kms/s3kms/kms"
)

// newUUID returns a random (version 4) UUID: KMIP Unique Identifiers of
// created objects.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// uniqueID returns the Unique Identifier of the request, or the batch's ID
// Placeholder when the request has none.
func uniqueID(c call) (string, error) {
	n, ok := c.payload.child(kmip14.TagUniqueIdentifier)
	if ok && n.typ == ttlv.TypeTextString {
		id, _ := n.text()
		if id == "" {
			return "", fieldError("the Unique Identifier is empty")
		}
		return id, nil
	}
	// KMIP 2.0 may name the placeholder with an enumeration.
	if ok && !(c.version.major >= 2 && n.typ == ttlv.TypeEnumeration) {
		return "", fieldError("the Unique Identifier is not a Text String")
	}
	if *c.placeholder == "" {
		return "", fieldError("no Unique Identifier, and no ID Placeholder in the batch")
	}
	return *c.placeholder, nil
}

// kmipKey returns the key id names, as KMIP sees it: named and material
// keys are KMIP objects (bucket root keys are internal to SSE-S3).
func (h *handler) kmipKey(c call, id string) (kms.Key, error) {
	info, err := h.svc.GetKey(c.ctx, id)
	if err != nil {
		return kms.Key{}, err
	}
	if info.Purpose == kms.PurposeBucketRoot {
		return kms.Key{}, errorf(kmip14.ResultReasonItemNotFound, "object %q not found", id)
	}
	return info.Key, nil
}

// target resolves the request's Unique Identifier (or the batch's ID
// Placeholder) to its key.
func (h *handler) target(c call) (string, kms.Key, error) {
	id, err := uniqueID(c)
	if err != nil {
		return "", kms.Key{}, err
	}
	k, err := h.kmipKey(c, id)
	return id, k, err
}

// lifecycleError is the failure of an operation refused in the key's
// current state: Permission Denied in KMIP 1.x, Wrong Key Lifecycle State
// in 2.0.
func lifecycleError(v version, format string, args ...any) *Error {
	r := kmip14.ResultReasonPermissionDenied
	if v.major >= 2 {
		r = resultReasonWrongKeyLifecycleState
	}
	return errorf(r, format, args...)
}

func idPayload(id string) encodeFunc {
	return func(e *ttlv.Encoder) error {
		e.EncodeTextString(kmip14.TagUniqueIdentifier, id)
		return nil
	}
}

// create answers Create: a Pre-Active AES-256 key (Active if the request
// gives an Activation Date not in the future), non-exportable, owned by
// the caller, with a fresh UUID as Unique Identifier.
func (h *handler) create(c call) (encodeFunc, error) {
	ot, ok := c.payload.child(kmip14.TagObjectType)
	if !ok {
		return nil, fieldError("Create needs an Object Type")
	}
	if t, err := ot.enum(); err != nil || kmip14.ObjectType(t) != kmip14.ObjectTypeSymmetricKey {
		return nil, fieldError("Create makes Symmetric Keys only")
	}
	attrs, err := requestAttributes(c, true)
	if err != nil {
		return nil, err
	}
	var a kms.Attributes
	var alg, length bool
	state := kms.StatePreActive
	for _, at := range attrs {
		switch {
		case at.name == attrAlgorithm:
			e, err := enumValue(at)
			if err != nil {
				return nil, err
			}
			if kmip14.CryptographicAlgorithm(e) != keyAlgorithm {
				return nil, fieldError("Cryptographic Algorithm %s is not supported (AES only)", kmip14.CryptographicAlgorithm(e))
			}
			alg = true
		case at.name == attrLength:
			l, err := intValue(at)
			if err != nil {
				return nil, err
			}
			if l != keyLength {
				return nil, fieldError("Cryptographic Length %d is not supported (256 only)", l)
			}
			length = true
		case at.name == attrUsageMask:
			if a.UsageMask, err = intValue(at); err != nil {
				return nil, err
			}
		case at.name == attrName:
			n, err := nameValue(at.value)
			if err != nil {
				return nil, err
			}
			a.Names = append(a.Names, n)
		case at.name == attrObjectGroup:
			g, err := textValue(at)
			if err != nil {
				return nil, err
			}
			a.ObjectGroups = append(a.ObjectGroups, g)
		case at.name == attrActivationDate:
			d, err := at.value.dateTime()
			if err != nil {
				return nil, fieldError("Activation Date is not a Date-Time")
			}
			if d.After(h.now()) {
				return nil, fieldError("an Activation Date in the future is not supported")
			}
			state = kms.StateActive
			a.ActivationDate = &d
		case settableAtCreate(at.name):
			if err := setAtCreate(&a, at); err != nil {
				return nil, err
			}
		default:
			return nil, fieldError("attribute %q cannot be set by Create", at.name)
		}
	}
	if !alg || !length {
		return nil, fieldError("Create needs the Cryptographic Algorithm and Cryptographic Length")
	}
	id := newUUID()
	k, err := h.svc.CreateKey(c.ctx, kms.CreateKeyRequest{
		ID: id, Purpose: kms.PurposeNamed, State: state, Attributes: a,
	})
	if err != nil {
		return nil, nameConflict(c.version, err)
	}
	c.compensate(func(ctx context.Context) error { return h.svc.PurgeKey(ctx, id, k) })
	*c.placeholder = id
	return func(e *ttlv.Encoder) error {
		e.EncodeEnumeration(kmip14.TagObjectType, uint32(kmip14.ObjectTypeSymmetricKey))
		e.EncodeTextString(kmip14.TagUniqueIdentifier, id)
		return nil
	}, nil
}

// activate answers Activate: Pre-Active keys become Active, recording
// the Activation Date. The state is checked inside the compare-and-set
// update: of concurrent Activates exactly one succeeds.
func (h *handler) activate(c call) (encodeFunc, error) {
	id, before, err := h.target(c)
	if err != nil {
		return nil, err
	}
	after, err := h.svc.Transition(c.ctx, id, kms.StateChange{From: []kms.State{kms.StatePreActive}, To: kms.StateActive})
	if err != nil {
		return nil, stateError(c.version, err)
	}
	h.compensateState(c, id, before, after)
	return idPayload(id), nil
}

// stateError turns the EState of a refused transition into the KMIP
// lifecycle failure.
func stateError(v version, err error) error {
	if kms.ErrorCode(err) == kms.EState {
		return lifecycleError(v, "%s", kms.ErrorMessage(err))
	}
	return err
}

// nameConflict turns the EConflict of a Name another object holds into
// the KMIP failure: Object Already Exists (1.x), Non-Unique Name
// Attribute (2.0).
func nameConflict(v version, err error) error {
	if kms.ErrorCode(err) == kms.EConflict && v.major >= 2 {
		return errorf(resultReasonNonUniqueNameAttribute, "%s", kms.ErrorMessage(err))
	}
	return err
}

// compensateState registers the undo of a state change.
func (h *handler) compensateState(c call, id string, before, after kms.Key) {
	c.compensate(func(ctx context.Context) error {
		_, err := h.svc.RestoreKey(ctx, id, after, before, kms.OpState)
		return err
	})
}

// revoke answers Revoke: a Key Compromise or CA Compromise reason makes
// the key Compromised (recording the Compromise Occurrence Date the
// client gives and the Compromise Date), any other Deactivated
// (recording the Deactivation Date); the Revocation Reason is recorded.
// Deactivating a Compromised key, or revoking a Destroyed one, is
// refused; revoking again to the same state succeeds and changes nothing.
func (h *handler) revoke(c call) (encodeFunc, error) {
	id, err := uniqueID(c)
	if err != nil {
		return nil, err
	}
	rr, ok := c.payload.child(kmip14.TagRevocationReason)
	if !ok || rr.structure() != nil {
		return nil, fieldError("Revoke needs a Revocation Reason")
	}
	rc, ok := rr.child(kmip14.TagRevocationReasonCode)
	code, err := rc.enum()
	if !ok || err != nil {
		return nil, fieldError("the Revocation Reason has no Revocation Reason Code")
	}
	reason := &kms.RevocationReason{Code: code}
	if m, ok := rr.child(kmip14.TagRevocationMessage); ok {
		if reason.Message, err = m.text(); err != nil {
			return nil, fieldError("the Revocation Message is not a Text String")
		}
	}
	ch := kms.StateChange{
		From: []kms.State{kms.StatePreActive, kms.StateActive, kms.StateDeactivated}, To: kms.StateDeactivated,
		RevocationReason: reason,
	}
	switch kmip14.RevocationReasonCode(code) {
	case kmip14.RevocationReasonCodeKeyCompromise, kmip14.RevocationReasonCodeCACompromise:
		ch.To = kms.StateCompromised
		ch.From = append(ch.From, kms.StateCompromised)
		if n, ok := c.payload.child(kmip14.TagCompromiseOccurrenceDate); ok {
			d, err := n.dateTime()
			if err != nil {
				return nil, fieldError("the Compromise Occurrence Date is not a Date-Time")
			}
			ch.CompromiseOccurrenceDate = &d
		}
	}
	before, err := h.kmipKey(c, id)
	if err != nil {
		return nil, err
	}
	after, err := h.svc.Transition(c.ctx, id, ch)
	if err != nil {
		return nil, stateError(c.version, err)
	}
	h.compensateState(c, id, before, after)
	return idPayload(id), nil
}

// destroy answers Destroy. An Active key is refused, as KMIP requires. In
// an Undo batch the destruction is deferred until every item succeeded
// (it cannot be undone).
func (h *handler) destroy(c call) (encodeFunc, error) {
	id, k, err := h.target(c)
	if err != nil {
		return nil, err
	}
	if k.State == kms.StateDestroyed {
		return nil, errorf(kmip14.ResultReasonItemNotFound, "object %q is destroyed", id)
	}
	if k.State == kms.StateActive {
		return nil, lifecycleError(c.version, "object %q is Active; revoke it first", id)
	}
	err = c.deferUntilCommit(c.ctx, func(ctx context.Context) error {
		if _, err := h.svc.DestroyKey(ctx, id); err != nil {
			if kms.ErrorCode(err) == kms.EState {
				return lifecycleError(c.version, "object %q is Active; revoke it first", id)
			}
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return idPayload(id), nil
}

// requestedNames returns the attribute names a Get Attributes request
// asks for: Attribute Names (1.x) or Attribute References (2.0, by tag;
// references to vendor attributes by name). nil means all.
func requestedNames(c call) (map[string]bool, error) {
	var out map[string]bool
	add := func(name string) {
		if out == nil {
			out = map[string]bool{}
		}
		out[name] = true
	}
	if c.version.major < 2 {
		for _, n := range c.payload.children(kmip14.TagAttributeName) {
			s, err := n.text()
			if err != nil {
				return nil, fieldError("an Attribute Name is not a Text String")
			}
			add(s)
		}
		return out, nil
	}
	for _, n := range c.payload.children(tagAttributeReference) {
		switch n.typ {
		case ttlv.TypeEnumeration:
			t, _ := n.enum()
			name, ok := attrNameOf(ttlv.Tag(t))
			if !ok {
				// An attribute the server does not have: not returned.
				name = fmt.Sprintf("tag %#x", t)
			}
			add(name)
		case ttlv.TypeStructure:
			// A Vendor Attribute Reference: Vendor Identification and
			// Attribute Name; the client vendors x and y name the custom
			// attributes x-Name and y-Name.
			an, _ := n.child(kmip14.TagAttributeName)
			s, err := an.text()
			if err != nil {
				return nil, fieldError("an Attribute Reference has no Attribute Name")
			}
			if vn, ok := n.child(kmip14.TagVendorIdentification); ok {
				v, err := vn.text()
				if err != nil {
					return nil, fieldError("invalid Vendor Identification")
				}
				if v != "" {
					s = v + "-" + s
				}
			}
			add(s)
		default:
			return nil, fieldError("invalid Attribute Reference")
		}
	}
	return out, nil
}

// getAttributes answers Get Attributes with the requested attributes the
// key has (all of them when none is named); unknown names are left out.
func (h *handler) getAttributes(c call) (encodeFunc, error) {
	id, err := uniqueID(c)
	if err != nil {
		return nil, err
	}
	want, err := requestedNames(c)
	if err != nil {
		return nil, err
	}
	k, err := h.kmipKey(c, id)
	if err != nil {
		return nil, err
	}
	var attrs []outAttr
	for _, a := range keyAttributes(k) {
		if want == nil || want[a.name] {
			attrs = append(attrs, a)
		}
	}
	return func(e *ttlv.Encoder) error {
		e.EncodeTextString(kmip14.TagUniqueIdentifier, id)
		return encodeAttributes(e, c.version, attrs)
	}, nil
}

// getAttributeList answers Get Attribute List: the names (1.x) or
// Attribute References (2.0) of the key's attributes.
func (h *handler) getAttributeList(c call) (encodeFunc, error) {
	id, k, err := h.target(c)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, a := range keyAttributes(k) {
		if len(names) == 0 || names[len(names)-1] != a.name {
			names = append(names, a.name)
		}
	}
	return func(e *ttlv.Encoder) error {
		e.EncodeTextString(kmip14.TagUniqueIdentifier, id)
		for _, n := range names {
			if c.version.major < 2 {
				e.EncodeTextString(kmip14.TagAttributeName, n)
			} else if tag, ok := attrTags[n]; ok {
				e.EncodeEnumeration(tagAttributeReference, uint32(tag))
			} else if vendor, name, ok := strings.Cut(n, "-"); ok && isCustom(n) {
				_ = e.EncodeStructure(tagAttributeReference, func(e *ttlv.Encoder) error {
					e.EncodeTextString(kmip14.TagVendorIdentification, vendor)
					e.EncodeTextString(kmip14.TagAttributeName, name)
					return nil
				})
			}
		}
		return nil
	}, nil
}
