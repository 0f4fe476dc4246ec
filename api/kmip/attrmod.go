package kmip

import (
	"context"
	"reflect"
	"slices"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"

	"github.com/s3kms/s3kms/kms"
)

// Add Attribute, Modify Attribute and Delete Attribute (KMIP 1.4 sections
// 4.14 to 4.16, KMIP 2.0 sections 6.1.2, 6.1.30, 6.1.15).
//
// The attributes a client may change are those of mutableAttrs: Name,
// Object Group, Link, Alternative Name and Application Specific
// Information (multi-instance), Contact Information and the
// custom x-/y- attributes (single instance per name). Every other
// attribute the server knows is read only: Permission Denied in 1.x,
// Attribute Read Only in 2.0 (e.g. Activation Date, which Activate sets;
// the OASIS case SKLC-M-3 expects Permission Denied for it). Unknown
// names are Invalid Field (1.x) or Unsupported Attribute (2.0).
//
// 1.x: Add appends an instance and answers the Attribute with its
// Attribute Index; Modify replaces the instance of the given Attribute
// Index (0 by default) and answers the new value; Delete removes the
// instance (0 by default) and answers the deleted value. A missing
// attribute is Item Not Found, an index past the instances Index Out of
// Bounds, a second instance of a single-instance attribute Illegal
// Operation. 2.0: New Attribute, Current Attribute (the instance to
// modify or delete, matched by value) and Attribute Reference (Delete:
// every instance); the responses carry the Unique Identifier only; the
// 2.0 reasons are Attribute Not Found, Attribute Instance Not Found,
// Attribute Single Valued and Attribute Read Only. A Name another live
// object holds is Object Already Exists (1.x) or Non-Unique Name
// Attribute (2.0).

// mutable describes one client-changeable attribute over kms.Attributes.
type mutable struct {
	multi bool
	count func(a *kms.Attributes) int
	// get returns instance i, comparable with reflect.DeepEqual.
	get func(a *kms.Attributes, i int) any
	// set replaces instance i, or appends when i == count.
	set func(a *kms.Attributes, i int, v attr) error
	del func(a *kms.Attributes, i int)
}

// stringsAttr is a multi-instance attribute stored as a []string.
func stringsAttr(field func(a *kms.Attributes) *[]string, parse func(v attr) (string, error)) mutable {
	return mutable{
		multi: true,
		count: func(a *kms.Attributes) int { return len(*field(a)) },
		get:   func(a *kms.Attributes, i int) any { return (*field(a))[i] },
		set: func(a *kms.Attributes, i int, v attr) error {
			s, err := parse(v)
			if err != nil {
				return err
			}
			f := field(a)
			if i == len(*f) {
				*f = append(*f, s)
			} else {
				(*f)[i] = s
			}
			return nil
		},
		del: func(a *kms.Attributes, i int) { f := field(a); *f = slices.Delete(*f, i, i+1) },
	}
}

var mutableAttrs = map[string]mutable{
	attrName: stringsAttr(func(a *kms.Attributes) *[]string { return &a.Names },
		func(v attr) (string, error) { return nameValue(v.value) }),
	attrObjectGroup: stringsAttr(func(a *kms.Attributes) *[]string { return &a.ObjectGroups }, textValue),
	attrLink: {
		multi: true,
		count: func(a *kms.Attributes) int { return len(a.Links) },
		get:   func(a *kms.Attributes, i int) any { return a.Links[i] },
		set: func(a *kms.Attributes, i int, v attr) error {
			l, err := linkValue(v.value)
			if err != nil {
				return err
			}
			if i == len(a.Links) {
				a.Links = append(a.Links, l)
			} else {
				a.Links[i] = l
			}
			return nil
		},
		del: func(a *kms.Attributes, i int) { a.Links = slices.Delete(a.Links, i, i+1) },
	},
	attrAlternativeName: alternativeNameAttr,
	attrAppInfo:         appInfoAttr,
	attrContactInformation: {
		count: func(a *kms.Attributes) int { return boolInt(a.ContactInformation != "") },
		get:   func(a *kms.Attributes, _ int) any { return a.ContactInformation },
		set: func(a *kms.Attributes, _ int, v attr) error {
			s, err := textValue(v)
			if err == nil && s == "" {
				err = fieldError("Contact Information is empty")
			}
			a.ContactInformation = s
			return err
		},
		del: func(a *kms.Attributes, _ int) { a.ContactInformation = "" },
	},
}

// customMutable is the mutable of the custom attribute name.
func customMutable(name string) mutable {
	return mutable{
		count: func(a *kms.Attributes) int {
			_, t := a.Custom[name]
			_, u := a.CustomTyped[name]
			return boolInt(t || u)
		},
		get: func(a *kms.Attributes, _ int) any {
			if v, ok := a.Custom[name]; ok {
				return v
			}
			return a.CustomTyped[name]
		},
		set: func(a *kms.Attributes, _ int, v attr) error { return setCustom(a, v) },
		del: func(a *kms.Attributes, _ int) {
			delete(a.Custom, name)
			delete(a.CustomTyped, name)
		},
	}
}

// customFilter is Locate's filter for the custom attribute a: keys whose
// value of it (text or typed) equals a's.
func customFilter(a attr) (func(kms.Key) bool, error) {
	m := customMutable(a.name)
	var want kms.Attributes
	if err := m.set(&want, 0, a); err != nil {
		return nil, err
	}
	wv := m.get(&want, 0)
	return func(k kms.Key) bool {
		return m.count(&k.Attributes) > 0 && reflect.DeepEqual(m.get(&k.Attributes, 0), wv)
	}, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// settableAtCreate reports whether Create and Register take the
// client-managed attribute name through setAtCreate: Link, Contact
// Information, Alternative Name, Application Specific Information and
// the custom x-/y- (2.0: vendor) attributes. (Name and
// Object Group are read by create itself.)
func settableAtCreate(name string) bool {
	return name == attrLink || name == attrContactInformation || name == attrAlternativeName ||
		name == attrAppInfo || isCustom(name)
}

// setAtCreate adds the attribute at (settableAtCreate) to a new
// object's attributes, refusing a second instance of a single-instance
// attribute.
func setAtCreate(a *kms.Attributes, at attr) error {
	m, ok := mutableAttrs[at.name]
	if !ok {
		m = customMutable(at.name)
	}
	n := m.count(a)
	if n > 0 && !m.multi {
		return fieldError("attribute %q is given twice", at.name)
	}
	return m.set(a, n, at)
}

// attrError picks the 1.x or 2.0 Result Reason of an attribute failure.
func attrError(v version, r1, r2 kmip14.ResultReason, format string, args ...any) *Error {
	if v.major >= 2 {
		return errorf(r2, format, args...)
	}
	return errorf(r1, format, args...)
}

// mutableOf returns how attribute name may be changed, or the failure
// for a read-only or unknown attribute.
func mutableOf(v version, name string) (mutable, error) {
	if m, ok := mutableAttrs[name]; ok {
		return m, nil
	}
	if isCustom(name) {
		return customMutable(name), nil
	}
	if _, known := attrTags[name]; known || readOnlyNames[name] {
		return mutable{}, attrError(v, kmip14.ResultReasonPermissionDenied, resultReasonAttributeReadOnly,
			"attribute %q is read only", name)
	}
	return mutable{}, attrError(v, kmip14.ResultReasonInvalidField, resultReasonUnsupportedAttribute,
		"attribute %q is not supported", name)
}

// readOnlyNames are attributes the server manages (or will) that have no
// entry in attrTags yet.
var readOnlyNames = map[string]bool{
	"Digest": true, "Extractable": true, "Sensitive": true, "Always Sensitive": true,
	"Never Extractable": true, "Original Creation Date": true,
	"Usage Limits": true, "Cryptographic Parameters": true,
}

// attrChange is a request of Add, Modify or Delete Attribute, decoded.
type attrChange struct {
	name string
	// value is the new value (Add, Modify); current the 2.0 Current
	// Attribute (Modify, Delete), if given.
	value, current *attr
	// index is the 1.x Attribute Index; -1 when absent.
	index int
	// all deletes every instance (2.0 Attribute Reference).
	all bool
}

// oneAttribute reads the attribute inside a 2.0 New Attribute or
// Current Attribute structure.
func oneAttribute(n node) (attr, error) {
	if n.structure() != nil || len(n.kids) != 1 {
		return attr{}, fieldError("%s must hold exactly one attribute", n.tag)
	}
	return taggedAttribute(n.kids[0])
}

// parseAttrChange decodes the payload of op.
func parseAttrChange(c call, op kmip14.Operation) (attrChange, error) {
	ch := attrChange{index: -1}
	if c.version.major >= 2 {
		if n, ok := c.payload.child(tagCurrentAttribute); ok && op != kmip14.OperationAddAttribute {
			a, err := oneAttribute(n)
			if err != nil {
				return ch, err
			}
			ch.current, ch.name = &a, a.name
		}
		switch op {
		case kmip14.OperationDeleteAttribute:
			if ch.current != nil {
				return ch, nil
			}
			names, err := requestedNames(c)
			if err != nil {
				return ch, err
			}
			if len(names) != 1 {
				return ch, fieldError("Delete Attribute needs a Current Attribute or one Attribute Reference")
			}
			for n := range names {
				ch.name = n
			}
			ch.all = true
			return ch, nil
		default:
			n, ok := c.payload.child(tagNewAttribute)
			if !ok {
				return ch, fieldError("%s needs a New Attribute", op)
			}
			a, err := oneAttribute(n)
			if err != nil {
				return ch, err
			}
			if ch.current != nil && ch.current.name != a.name {
				return ch, fieldError("the Current Attribute and the New Attribute differ in name")
			}
			ch.value, ch.name = &a, a.name
			return ch, nil
		}
	}
	if op == kmip14.OperationDeleteAttribute {
		nn, ok := c.payload.child(kmip14.TagAttributeName)
		name, err := nn.text()
		if !ok || err != nil || name == "" {
			return ch, fieldError("Delete Attribute needs an Attribute Name")
		}
		ch.name = name
		if in, ok := c.payload.child(kmip14.TagAttributeIndex); ok {
			i, err := in.integer()
			if err != nil || i < 0 {
				return ch, fieldError("invalid Attribute Index")
			}
			ch.index = int(i)
		}
		return ch, nil
	}
	as := c.payload.children(kmip14.TagAttribute)
	if len(as) != 1 || as[0].structure() != nil {
		return ch, fieldError("%s needs exactly one Attribute", op)
	}
	nn, ok1 := as[0].child(kmip14.TagAttributeName)
	val, ok2 := as[0].child(kmip14.TagAttributeValue)
	name, err := nn.text()
	if !ok1 || !ok2 || err != nil || name == "" {
		return ch, fieldError("an Attribute lacks its name or value")
	}
	ch.name, ch.value = name, &attr{name: name, value: val}
	if in, ok := as[0].child(kmip14.TagAttributeIndex); ok {
		i, err := in.integer()
		if err != nil || i < 0 {
			return ch, fieldError("invalid Attribute Index")
		}
		ch.index = int(i)
	}
	return ch, nil
}

// findInstance returns the index of the instance of m in a equal to cur.
func findInstance(v version, m mutable, a *kms.Attributes, cur attr) (int, error) {
	var scratch kms.Attributes
	if err := m.set(&scratch, 0, cur); err != nil {
		return 0, err
	}
	want := m.get(&scratch, 0)
	for i := range m.count(a) {
		if reflect.DeepEqual(m.get(a, i), want) {
			return i, nil
		}
	}
	return 0, attrError(v, kmip14.ResultReasonItemNotFound, resultReasonAttributeInstanceNotFound,
		"no instance of %q has the Current Attribute's value", cur.name)
}

func (h *handler) addAttribute(c call) (encodeFunc, error) {
	return h.changeAttribute(c, kmip14.OperationAddAttribute)
}

func (h *handler) modifyAttribute(c call) (encodeFunc, error) {
	return h.changeAttribute(c, kmip14.OperationModifyAttribute)
}

func (h *handler) deleteAttribute(c call) (encodeFunc, error) {
	return h.changeAttribute(c, kmip14.OperationDeleteAttribute)
}

// changeAttribute serves Add, Modify and Delete Attribute.
func (h *handler) changeAttribute(c call, op kmip14.Operation) (encodeFunc, error) {
	id, err := uniqueID(c)
	if err != nil {
		return nil, err
	}
	ch, err := parseAttrChange(c, op)
	if err != nil {
		return nil, err
	}
	m, err := mutableOf(c.version, ch.name)
	if err != nil {
		return nil, err
	}
	if _, err := h.kmipKey(c, id); err != nil {
		return nil, err
	}
	idx := 0 // the instance changed, for the 1.x response
	before, after, err := h.svc.UpdateAttributes(c.ctx, id, func(k *kms.Key) error {
		a := &k.Attributes
		n := m.count(a)
		idx = 0
		switch {
		case op == kmip14.OperationAddAttribute:
			if n > 0 && !m.multi {
				return attrError(c.version, kmip14.ResultReasonIllegalOperation, resultReasonAttributeSingleValued,
					"attribute %q is single-valued and already set", ch.name)
			}
			idx = n
			return m.set(a, n, *ch.value)
		case n == 0:
			return attrError(c.version, kmip14.ResultReasonItemNotFound, resultReasonAttributeNotFound,
				"object %q has no attribute %q", id, ch.name)
		case ch.all:
			for i := n - 1; i >= 0; i-- {
				m.del(a, i)
			}
			return nil
		case ch.current != nil:
			i, err := findInstance(c.version, m, a, *ch.current)
			if err != nil {
				return err
			}
			idx = i
		case ch.index >= n:
			return attrError(c.version, kmip14.ResultReasonIndexOutOfBounds, kmip14.ResultReasonIndexOutOfBounds,
				"attribute %q has no instance %d", ch.name, ch.index)
		case ch.index > 0:
			idx = ch.index
		}
		if op == kmip14.OperationDeleteAttribute {
			m.del(a, idx)
			return nil
		}
		return m.set(a, idx, *ch.value)
	})
	if err != nil {
		if ch.name == attrName && kms.ErrorCode(err) == kms.EConflict {
			return nil, attrError(c.version, kmip14.ResultReasonObjectAlreadyExists, resultReasonNonUniqueNameAttribute,
				"%s", kms.ErrorMessage(err))
		}
		return nil, err
	}
	c.compensate(func(ctx context.Context) error {
		_, err := h.svc.RestoreKey(ctx, id, after, before, kms.OpAttributes)
		return err
	})
	if c.version.major >= 2 {
		return idPayload(id), nil
	}
	from := after
	if op == kmip14.OperationDeleteAttribute {
		from = before
	}
	var out []outAttr
	for _, a := range keyAttributes(from) {
		if a.name == ch.name && int(a.index) == idx {
			out = append(out, a)
		}
	}
	return func(e *ttlv.Encoder) error {
		e.EncodeTextString(kmip14.TagUniqueIdentifier, id)
		return encodeAttributes(e, c.version, out)
	}, nil
}
