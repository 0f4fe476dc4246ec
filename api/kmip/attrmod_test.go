package kmip

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"

	"github.com/s3kms/s3kms/kms"
)

var testVersions = []version{{1, 2}, {1, 4}, {2, 0}}

func aLink(t kmip14.LinkType, id string) tattr {
	return tattr{attrLink, func(e *ttlv.Encoder, tag ttlv.Tag) {
		_ = e.EncodeStructure(tag, func(e *ttlv.Encoder) error {
			e.EncodeEnumeration(kmip14.TagLinkType, uint32(t))
			e.EncodeTextString(kmip14.TagLinkedObjectIdentifier, id)
			return nil
		})
	}}
}

func aDate(name string, d time.Time) tattr {
	return tattr{name, func(e *ttlv.Encoder, tag ttlv.Tag) { e.EncodeDateTime(tag, d) }}
}

// encOne writes one attribute in v's form: a 1.x Attribute structure
// (with index when >= 0), or inside a 2.0 wrapper (New Attribute,
// Current Attribute), as a Vendor Attribute for x- names.
func encOne(e *ttlv.Encoder, v version, wrap ttlv.Tag, a tattr, index int32) {
	if v.major < 2 {
		_ = e.EncodeStructure(kmip14.TagAttribute, func(e *ttlv.Encoder) error {
			e.EncodeTextString(kmip14.TagAttributeName, a.name)
			if index >= 0 {
				e.EncodeInteger(kmip14.TagAttributeIndex, index)
			}
			a.enc(e, kmip14.TagAttributeValue)
			return nil
		})
		return
	}
	_ = e.EncodeStructure(wrap, func(e *ttlv.Encoder) error {
		if tag, ok := attrTags[a.name]; ok {
			a.enc(e, tag)
			return nil
		}
		return e.EncodeStructure(tagVendorAttribute, func(e *ttlv.Encoder) error {
			e.EncodeTextString(kmip14.TagVendorIdentification, a.name[:1])
			e.EncodeTextString(kmip14.TagAttributeName, a.name[2:])
			a.enc(e, kmip14.TagAttributeValue)
			return nil
		})
	})
}

func addPayload(v version, id string, a tattr) func(e *ttlv.Encoder) {
	return func(e *ttlv.Encoder) {
		idOnly(id)(e)
		encOne(e, v, tagNewAttribute, a, -1)
	}
}

// modifyPayload: index is the 1.x Attribute Index (-1: none); cur the
// 2.0 Current Attribute (nil: none).
func modifyPayload(v version, id string, a tattr, index int32, cur *tattr) func(e *ttlv.Encoder) {
	return func(e *ttlv.Encoder) {
		idOnly(id)(e)
		if v.major >= 2 && cur != nil {
			encOne(e, v, tagCurrentAttribute, *cur, -1)
		}
		encOne(e, v, tagNewAttribute, a, index)
	}
}

// deletePayload: 1.x Attribute Name and Index; 2.0 Current Attribute
// when cur is set, else an Attribute Reference.
func deletePayload(v version, id, name string, index int32, cur *tattr) func(e *ttlv.Encoder) {
	return func(e *ttlv.Encoder) {
		idOnly(id)(e)
		switch {
		case v.major < 2:
			e.EncodeTextString(kmip14.TagAttributeName, name)
			if index >= 0 {
				e.EncodeInteger(kmip14.TagAttributeIndex, index)
			}
		case cur != nil:
			encOne(e, v, tagCurrentAttribute, *cur, -1)
		case isCustom(name):
			_ = e.EncodeStructure(tagAttributeReference, func(e *ttlv.Encoder) error {
				e.EncodeTextString(kmip14.TagVendorIdentification, name[:1])
				e.EncodeTextString(kmip14.TagAttributeName, name[2:])
				return nil
			})
		default:
			e.EncodeEnumeration(tagAttributeReference, uint32(attrTags[name]))
		}
	}
}

// render renders any attribute value for comparison.
func render(t ttlv.TTLV) string {
	switch t.Type() {
	case ttlv.TypeStructure:
		s := "{"
		for _, c := range children(t) {
			s += render(c) + ","
		}
		return s + "}"
	case ttlv.TypeDateTime:
		return t.ValueDateTime().UTC().Format(time.RFC3339)
	case ttlv.TypeInteger:
		return fmt.Sprint(t.ValueInteger())
	case ttlv.TypeEnumeration:
		return fmt.Sprint(uint32(t.ValueEnumeration()))
	case ttlv.TypeTextString:
		return t.ValueTextString()
	case ttlv.TypeBoolean:
		return fmt.Sprint(t.ValueBoolean())
	}
	return t.Type().String()
}

// allAttrs decodes every attribute of a payload (1.x Attribute
// structures with their index, 2.0 tagged values and Vendor Attributes)
// into name → rendered values.
func allAttrs(p ttlv.TTLV) map[string][]string {
	out := map[string][]string{}
	var one func(c ttlv.TTLV)
	one = func(c ttlv.TTLV) {
		switch c.Tag() {
		case kmip14.TagAttribute: // also the 2.0 Vendor Attribute
			var name, vendor, val string
			for _, f := range children(c) {
				switch f.Tag() {
				case kmip14.TagAttributeName:
					name = f.ValueTextString()
				case kmip14.TagVendorIdentification:
					vendor = f.ValueTextString()
				case kmip14.TagAttributeValue:
					val = render(f)
				}
			}
			if vendor != "" {
				name = vendor + "-" + name
			}
			out[name] = append(out[name], val)
		case tagAttributes:
			for _, a := range children(c) {
				if a.Tag() == kmip14.TagAttribute {
					one(a)
				} else if name, ok := attrNameOf(a.Tag()); ok {
					out[name] = append(out[name], render(a))
				}
			}
		}
	}
	for _, c := range children(p) {
		one(c)
	}
	return out
}

func createKey(t *testing.T, c net.Conn, v version, attrs ...tattr) string {
	t.Helper()
	it := mustSucceed(t, do(t, c, v, kmip14.OperationCreate, createPayload(v, kmip14.ObjectTypeSymmetricKey, append(aes(256), attrs...)...)))
	return textChildren(it.ResponsePayload, kmip14.TagUniqueIdentifier)[0]
}

func getAll(t *testing.T, c net.Conn, v version, id string) map[string][]string {
	t.Helper()
	return allAttrs(mustSucceed(t, do(t, c, v, kmip14.OperationGetAttributes, idOnly(id))).ResponsePayload)
}

// pick picks the 1.x or 2.0 reason.
func pick(v version, r1, r2 kmip14.ResultReason) kmip14.ResultReason {
	if v.major >= 2 {
		return r2
	}
	return r1
}

func TestAttributeChanges(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	for _, v := range testVersions {
		t.Run(v.String(), func(t *testing.T) {
			sfx := v.String()
			id := createKey(t, c, v, aName("n1-"+sfx), aText("x-id", "one-"+sfx))
			other := createKey(t, c, v, aName("taken-"+sfx))
			type step struct {
				name    string
				op      kmip14.Operation
				payload func(e *ttlv.Encoder)
				fail    kmip14.ResultReason // 0: success
				resp    map[string][]string // 1.x response attributes
			}
			n2 := aName("n2-" + sfx)
			steps := []step{
				{"add custom", kmip14.OperationAddAttribute, addPayload(v, id, aText("x-attribute1", "Value1")), 0,
					map[string][]string{"x-attribute1": {"Value1"}}},
				{"add typed custom", kmip14.OperationAddAttribute, addPayload(v, id, aInt("x-count", 7)), 0,
					map[string][]string{"x-count": {"7"}}},
				{"add custom twice", kmip14.OperationAddAttribute, addPayload(v, id, aText("x-attribute1", "again")),
					pick(v, kmip14.ResultReasonIllegalOperation, resultReasonAttributeSingleValued), nil},
				{"modify custom", kmip14.OperationModifyAttribute, modifyPayload(v, id, aText("x-attribute1", "Modified"), -1, nil), 0,
					map[string][]string{"x-attribute1": {"Modified"}}},
				{"add second name", kmip14.OperationAddAttribute, addPayload(v, id, n2), 0,
					map[string][]string{attrName: {"{n2-" + sfx + ",1,}"}}},
				{"add taken name", kmip14.OperationAddAttribute, addPayload(v, id, aName("taken-"+sfx)),
					pick(v, kmip14.ResultReasonObjectAlreadyExists, resultReasonNonUniqueNameAttribute), nil},
				{"modify name by index", kmip14.OperationModifyAttribute, modifyPayload(v, id, aName("n3-"+sfx), 1, &n2), 0,
					map[string][]string{attrName: {"{n3-" + sfx + ",1,}"}}},
				{"modify to taken name", kmip14.OperationModifyAttribute, modifyPayload(v, id, aName("taken-"+sfx), 0, nil),
					pick(v, kmip14.ResultReasonObjectAlreadyExists, resultReasonNonUniqueNameAttribute), nil},
				{"add link", kmip14.OperationAddAttribute, addPayload(v, id, aLink(kmip14.LinkTypeNextLink, other)), 0,
					map[string][]string{attrLink: {fmt.Sprintf("{%d,%s,}", kmip14.LinkTypeNextLink, other)}}},
				{"add contact", kmip14.OperationAddAttribute, addPayload(v, id, aText(attrContactInformation, "ops")), 0,
					map[string][]string{attrContactInformation: {"ops"}}},
				{"add contact twice", kmip14.OperationAddAttribute, addPayload(v, id, aText(attrContactInformation, "x")),
					pick(v, kmip14.ResultReasonIllegalOperation, resultReasonAttributeSingleValued), nil},
				{"modify read-only", kmip14.OperationModifyAttribute, modifyPayload(v, id, aDate(attrActivationDate, time.Now()), -1, nil),
					pick(v, kmip14.ResultReasonPermissionDenied, resultReasonAttributeReadOnly), nil},
				{"add read-only", kmip14.OperationAddAttribute, addPayload(v, id, aEnum(attrState, uint32(kmip14.StateActive))),
					pick(v, kmip14.ResultReasonPermissionDenied, resultReasonAttributeReadOnly), nil},
				{"delete read-only", kmip14.OperationDeleteAttribute, deletePayload(v, id, attrUniqueIdentifier, -1, nil),
					pick(v, kmip14.ResultReasonPermissionDenied, resultReasonAttributeReadOnly), nil},
				{"delete absent", kmip14.OperationDeleteAttribute, deletePayload(v, id, "x-absent", -1, nil),
					pick(v, kmip14.ResultReasonItemNotFound, resultReasonAttributeNotFound), nil},
				{"delete custom", kmip14.OperationDeleteAttribute, deletePayload(v, id, "x-attribute1", -1, nil), 0,
					map[string][]string{"x-attribute1": {"Modified"}}},
				{"unknown object", kmip14.OperationAddAttribute, addPayload(v, "nope", aText("x-a", "b")),
					kmip14.ResultReasonItemNotFound, nil},
			}
			if v.major < 2 {
				steps = append(steps,
					step{"delete out of bounds", kmip14.OperationDeleteAttribute, deletePayload(v, id, attrName, 5, nil),
						kmip14.ResultReasonIndexOutOfBounds, nil},
					step{"modify out of bounds", kmip14.OperationModifyAttribute, modifyPayload(v, id, aName("z"), 5, nil),
						kmip14.ResultReasonIndexOutOfBounds, nil},
					step{"unsupported name", kmip14.OperationAddAttribute, addPayload(v, id, aText("Bogus", "b")),
						kmip14.ResultReasonInvalidField, nil},
					step{"delete name by index", kmip14.OperationDeleteAttribute, deletePayload(v, id, attrName, 1, nil), 0,
						map[string][]string{attrName: {"{n3-" + sfx + ",1,}"}}},
				)
			} else {
				n3 := aName("n3-" + sfx)
				steps = append(steps,
					step{"modify absent instance", kmip14.OperationModifyAttribute, modifyPayload(v, id, aName("z"), -1, &n2),
						resultReasonAttributeInstanceNotFound, nil},
					step{"delete name by value", kmip14.OperationDeleteAttribute, deletePayload(v, id, attrName, -1, &n3), 0, nil},
				)
			}
			for _, s := range steps {
				it := do(t, c, v, s.op, s.payload)
				if s.fail != 0 {
					mustFail(t, it, s.fail)
					continue
				}
				mustSucceed(t, it)
				if ids := textChildren(it.ResponsePayload, kmip14.TagUniqueIdentifier); len(ids) != 1 || (ids[0] != id && s.name != "unknown object") {
					t.Errorf("%s: ids %v", s.name, ids)
				}
				got := allAttrs(it.ResponsePayload)
				if v.major >= 2 {
					if len(got) != 0 {
						t.Errorf("%s: 2.0 response has attributes %v", s.name, got)
					}
				} else if fmt.Sprint(got) != fmt.Sprint(s.resp) {
					t.Errorf("%s: response attributes %v, want %v", s.name, got, s.resp)
				}
			}
			got := getAll(t, c, v, id)
			want := map[string]string{
				attrName:               "[{n1-" + sfx + ",1,}]",
				"x-id":                 "[one-" + sfx + "]",
				"x-count":              "[7]",
				"x-attribute1":         "[]",
				attrLink:               fmt.Sprintf("[{%d,%s,}]", kmip14.LinkTypeNextLink, other),
				attrContactInformation: "[ops]",
			}
			for name, w := range want {
				if g := fmt.Sprint(got[name]); g != w {
					t.Errorf("after the changes %s = %s, want %s", name, g, w)
				}
			}
			// Locate finds the key by its custom attributes, text and typed.
			for _, as := range [][]tattr{{aText("x-id", "one-"+sfx)}, {aText("x-id", "one-"+sfx), aInt("x-count", 7)}} {
				it := mustSucceed(t, do(t, c, v, kmip14.OperationLocate, locatePayload(v, 0, 0, as...)))
				if ids := textChildren(it.ResponsePayload, kmip14.TagUniqueIdentifier); fmt.Sprint(ids) != fmt.Sprint([]string{id}) {
					t.Errorf("Locate by %d custom attributes found %v, want [%s]", len(as), ids, id)
				}
			}
			it := mustSucceed(t, do(t, c, v, kmip14.OperationLocate, locatePayload(v, 0, 0, aText("x-id", "one-"+sfx), aInt("x-count", 8))))
			if ids := textChildren(it.ResponsePayload, kmip14.TagUniqueIdentifier); len(ids) != 0 {
				t.Errorf("Locate by a wrong typed value found %v", ids)
			}
			// Get Attribute List names the custom attributes too.
			list := mustSucceed(t, do(t, c, v, kmip14.OperationGetAttributeList, idOnly(id))).ResponsePayload
			n := 0
			for _, ch := range children(list) {
				if (ch.Tag() == kmip14.TagAttributeName && isCustom(ch.ValueTextString())) ||
					(ch.Tag() == tagAttributeReference && ch.Type() == ttlv.TypeStructure) {
					n++
				}
			}
			if n != 2 {
				t.Errorf("Get Attribute List: %d custom attributes, want 2", n)
			}
		})
	}
}

// TestLifecycleAttributesKMIP checks the dates and reason Activate and
// Revoke record, at every version.
func TestLifecycleAttributesKMIP(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	occurred := time.Date(1970, 1, 1, 0, 0, 6, 0, time.UTC)
	for _, v := range testVersions {
		t.Run(v.String(), func(t *testing.T) {
			id := createKey(t, c, v)
			if got := getAll(t, c, v, id); got[attrActivationDate] != nil {
				t.Errorf("Pre-Active key has an Activation Date")
			}
			mustSucceed(t, do(t, c, v, kmip14.OperationActivate, idOnly(id)))
			mustFail(t, do(t, c, v, kmip14.OperationActivate, idOnly(id)),
				pick(v, kmip14.ResultReasonPermissionDenied, resultReasonWrongKeyLifecycleState))
			mustSucceed(t, do(t, c, v, kmip14.OperationRevoke, func(e *ttlv.Encoder) {
				idOnly(id)(e)
				_ = e.EncodeStructure(kmip14.TagRevocationReason, func(e *ttlv.Encoder) error {
					e.EncodeEnumeration(kmip14.TagRevocationReasonCode, uint32(kmip14.RevocationReasonCodeKeyCompromise))
					e.EncodeTextString(kmip14.TagRevocationMessage, "leaked")
					return nil
				})
				e.EncodeDateTime(kmip14.TagCompromiseOccurrenceDate, occurred)
			}))
			got := getAll(t, c, v, id)
			for _, name := range []string{attrActivationDate, attrCompromiseDate, attrLastChangeDate} {
				if len(got[name]) != 1 {
					t.Errorf("%s = %v", name, got[name])
				}
			}
			if g := fmt.Sprint(got[attrCompromiseOccurrenceDate]); g != "[1970-01-01T00:00:06Z]" {
				t.Errorf("Compromise Occurrence Date = %s", g)
			}
			if g, w := fmt.Sprint(got[attrRevocationReason]), fmt.Sprintf("[{%d,leaked,}]", kmip14.RevocationReasonCodeKeyCompromise); g != w {
				t.Errorf("Revocation Reason = %s, want %s", g, w)
			}
			mustSucceed(t, do(t, c, v, kmip14.OperationDestroy, idOnly(id)))
		})
	}
}

// TestConcurrentActivate: 8 clients Activate the same key at once;
// exactly one succeeds.
func TestConcurrentActivate(t *testing.T) {
	ts := startServer(t, Config{})
	v := version{1, 4}
	id := createKey(t, ts.dial(t), v)
	const n = 8
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = ts.dial(t)
	}
	results := make([]respItem, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			m := roundTripNoFatal(conns[i], encodeRequest(t, v, reqOpts{}, testItem{op: kmip14.OperationActivate, payload: idOnly(id)}))
			if m != nil {
				results[i] = m.BatchItem[0]
			}
		})
	}
	wg.Wait()
	ok := 0
	for _, it := range results {
		switch {
		case it.ResultStatus == kmip14.ResultStatusSuccess:
			ok++
		case it.ResultReason != kmip14.ResultReasonPermissionDenied:
			t.Errorf("Activate: %s %s %q", it.ResultStatus, it.ResultReason, it.ResultMessage)
		}
	}
	if ok != 1 {
		t.Fatalf("%d Activates succeeded, want 1", ok)
	}
}

// roundTripNoFatal is roundTrip for goroutines: nil on error.
func roundTripNoFatal(c net.Conn, req []byte) *respMsg {
	if _, err := c.Write(req); err != nil {
		return nil
	}
	b, err := readResponse(c)
	if err != nil {
		return nil
	}
	var m respMsg
	if err := ttlv.Unmarshal(b, &m); err != nil {
		return nil
	}
	return &m
}

func TestCheck(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	for _, v := range testVersions {
		t.Run(v.String(), func(t *testing.T) {
			masked := createKey(t, c, v, aInt(attrUsageMask, int32(kmip14.CryptographicUsageMaskEncrypt|kmip14.CryptographicUsageMaskDecrypt)))
			open := createKey(t, c, v)
			check := func(id string, mask kmip14.CryptographicUsageMask) respItem {
				return do(t, c, v, kmip14.OperationCheck, func(e *ttlv.Encoder) {
					idOnly(id)(e)
					e.EncodeLongInteger(kmip14.TagUsageLimitsCount, 10)
					e.EncodeInteger(kmip14.TagCryptographicUsageMask, int32(mask))
					e.EncodeInterval(kmip14.TagLeaseTime, time.Hour)
				})
			}
			it := mustSucceed(t, check(masked, kmip14.CryptographicUsageMaskEncrypt))
			if ids := textChildren(it.ResponsePayload, kmip14.TagUniqueIdentifier); len(ids) != 1 || ids[0] != masked {
				t.Errorf("Check ids %v", ids)
			}
			it = check(masked, kmip14.CryptographicUsageMaskSign)
			mustFail(t, it, pick(v, kmip14.ResultReasonPermissionDenied, resultReasonIncompatibleUsageMask))
			// The failure's payload names the object and the mask that failed.
			if ids := textChildren(it.ResponsePayload, kmip14.TagUniqueIdentifier); len(ids) != 1 || ids[0] != masked {
				t.Errorf("failed Check payload ids %v", ids)
			}
			mustSucceed(t, check(open, kmip14.CryptographicUsageMaskSign))
			mustFail(t, check("missing", kmip14.CryptographicUsageMaskEncrypt), kmip14.ResultReasonItemNotFound)
		})
	}
}

func TestReKey(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	ctx := kms.WithIdentity(context.Background(), ts.env.Admin.Identity)
	for _, v := range testVersions {
		t.Run(v.String(), func(t *testing.T) {
			name := "rekey-" + v.String()
			old := createKey(t, c, v, aName(name), aText(attrObjectGroup, "g"), aText("x-id", "k"))
			mustSucceed(t, do(t, c, v, kmip14.OperationActivate, idOnly(old)))
			it := mustSucceed(t, do(t, c, v, kmip14.OperationReKey, func(e *ttlv.Encoder) {
				idOnly(old)(e)
				e.EncodeInterval(kmip14.TagOffset, 0)
			}))
			ids := textChildren(it.ResponsePayload, kmip14.TagUniqueIdentifier)
			if len(ids) != 1 || ids[0] == old || !uuidPattern.MatchString(ids[0]) {
				t.Fatalf("ReKey ids %v", ids)
			}
			nw := ids[0]
			got := getAll(t, c, v, nw)
			want := map[string]string{
				attrName:        "[{" + name + ",1,}]",
				attrObjectGroup: "[g]",
				"x-id":          "[k]",
				attrState:       fmt.Sprintf("[%d]", kmip14.StateActive),
				attrLink:        fmt.Sprintf("[{%d,%s,}]", kmip14.LinkTypeReplacedObjectLink, old),
			}
			for n, w := range want {
				if g := fmt.Sprint(got[n]); g != w {
					t.Errorf("new key %s = %s, want %s", n, g, w)
				}
			}
			got = getAll(t, c, v, old)
			if got[attrName] != nil || fmt.Sprint(got[attrLink]) != fmt.Sprintf("[{%d,%s,}]", kmip14.LinkTypeReplacementObjectLink, nw) {
				t.Errorf("old key: Name %v, Link %v", got[attrName], got[attrLink])
			}
			infoOld, _ := ts.env.Service.GetKey(ctx, old)
			infoNew, _ := ts.env.Service.GetKey(ctx, nw)
			if infoNew.Purpose != infoOld.Purpose || infoNew.State != kms.StateActive {
				t.Errorf("new key %+v", infoNew.Key)
			}
			// Without Offset: Pre-Active. A future Offset is refused.
			it = mustSucceed(t, do(t, c, v, kmip14.OperationReKey, idOnly(nw)))
			third := textChildren(it.ResponsePayload, kmip14.TagUniqueIdentifier)[0]
			if g := fmt.Sprint(getAll(t, c, v, third)[attrState]); g != fmt.Sprintf("[%d]", kmip14.StatePreActive) {
				t.Errorf("ReKey without Offset: state %s", g)
			}
			mustFail(t, do(t, c, v, kmip14.OperationReKey, func(e *ttlv.Encoder) {
				idOnly(third)(e)
				e.EncodeInterval(kmip14.TagOffset, time.Hour)
			}), kmip14.ResultReasonInvalidField)
			mustFail(t, do(t, c, v, kmip14.OperationReKey, idOnly("missing")), kmip14.ResultReasonItemNotFound)
		})
	}
}

// TestReKeyMaterial: ReKey of a material key makes a material key of the
// same algorithm and length, with fresh material.
func TestReKeyMaterial(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	ctx := kms.WithIdentity(context.Background(), ts.env.Admin.Identity)
	old := newUUID()
	if _, err := ts.env.Service.CreateKey(ctx, kms.CreateKeyRequest{ID: old, Purpose: kms.PurposeMaterial,
		Exportable: true, Attributes: kms.Attributes{Algorithm: kms.AlgorithmAES, Length: 128}}); err != nil {
		t.Fatal(err)
	}
	it := mustSucceed(t, do(t, c, version{1, 4}, kmip14.OperationReKey, idOnly(old)))
	nw := textChildren(it.ResponsePayload, kmip14.TagUniqueIdentifier)[0]
	info, err := ts.env.Service.GetKey(ctx, nw)
	if err != nil {
		t.Fatal(err)
	}
	if info.Purpose != kms.PurposeMaterial || !info.Exportable || info.Attributes.Algorithm != kms.AlgorithmAES ||
		info.Attributes.Length != 128 || info.State != kms.StatePreActive {
		t.Fatalf("new key %+v", info.Key)
	}
	_, m1, err := ts.env.Service.ExportKey(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	_, m2, err := ts.env.Service.ExportKey(ctx, nw)
	if err != nil {
		t.Fatal(err)
	}
	if len(m2) != 16 || string(m1) == string(m2) {
		t.Errorf("new material: %d bytes, same as the old: %v", len(m2), string(m1) == string(m2))
	}
}

func TestBatchUndo(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	ctx := kms.WithIdentity(context.Background(), ts.env.Admin.Identity)
	v := version{1, 4}
	undo := reqOpts{onError: kmip14.BatchErrorContinuationOptionUndo}
	fail := testItem{op: kmip14.OperationGet, payload: idOnly("no-such-object")} // fails: Item Not Found
	statuses := func(m respMsg) []kmip14.ResultStatus {
		var out []kmip14.ResultStatus
		for _, it := range m.BatchItem {
			out = append(out, it.ResultStatus)
		}
		return out
	}
	undone, failed, ok := kmip14.ResultStatusOperationUndone, kmip14.ResultStatusOperationFailed, kmip14.ResultStatusSuccess

	t.Run("side effects undone", func(t *testing.T) {
		existing := createKey(t, c, v, aName("undo-existing"))
		var newID string
		m := roundTrip(t, c, encodeRequest(t, v, undo,
			testItem{op: kmip14.OperationAddAttribute, payload: addPayload(v, existing, aText("x-undo", "1"))},
			testItem{op: kmip14.OperationActivate, payload: idOnly(existing)},
			testItem{op: kmip14.OperationCreate, payload: createPayload(v, kmip14.ObjectTypeSymmetricKey, append(aes(256), aName("undo-new"))...)},
			testItem{op: kmip14.OperationActivate}, // the placeholder: the new key
			fail))
		if fmt.Sprint(statuses(m)) != fmt.Sprint([]kmip14.ResultStatus{undone, undone, undone, undone, failed}) {
			t.Fatalf("statuses %v (%q)", statuses(m), m.BatchItem[len(m.BatchItem)-1].ResultMessage)
		}
		info, err := ts.env.Service.GetKey(ctx, existing)
		if err != nil || info.State != kms.StatePreActive || info.Attributes.Custom["x-undo"] != "" {
			t.Errorf("existing key after undo: %+v %v", info.Key, err)
		}
		keys, _, _ := ts.env.Service.ListKeys(ctx, "", 0)
		for _, k := range keys {
			if len(k.Attributes.Names) > 0 && k.Attributes.Names[0] == "undo-new" {
				newID = k.ID
			}
		}
		if newID != "" {
			t.Errorf("created key %s not purged", newID)
		}
	})
	t.Run("destroy deferred", func(t *testing.T) {
		id := createKey(t, c, v)
		m := roundTrip(t, c, encodeRequest(t, v, undo, testItem{op: kmip14.OperationDestroy, payload: idOnly(id)}, fail))
		if fmt.Sprint(statuses(m)) != fmt.Sprint([]kmip14.ResultStatus{undone, failed}) {
			t.Fatalf("statuses %v", statuses(m))
		}
		if info, err := ts.env.Service.GetKey(ctx, id); err != nil || info.State != kms.StatePreActive {
			t.Errorf("key after undone destroy: %s %v", info.State, err)
		}
		m = roundTrip(t, c, encodeRequest(t, v, undo, testItem{op: kmip14.OperationDestroy, payload: idOnly(id)},
			testItem{op: kmip14.OperationGetAttributes, payload: idOnly(id)}))
		if fmt.Sprint(statuses(m)) != fmt.Sprint([]kmip14.ResultStatus{ok, ok}) {
			t.Fatalf("statuses %v", statuses(m))
		}
		if info, err := ts.env.Service.GetKey(ctx, id); err != nil || info.State != kms.StateDestroyed {
			t.Errorf("key after committed destroy: %s %v", info.State, err)
		}
	})
	t.Run("stop keeps side effects", func(t *testing.T) {
		id := createKey(t, c, v)
		m := roundTrip(t, c, encodeRequest(t, v, reqOpts{}, testItem{op: kmip14.OperationActivate, payload: idOnly(id)}, fail))
		if fmt.Sprint(statuses(m)) != fmt.Sprint([]kmip14.ResultStatus{ok, failed}) {
			t.Fatalf("statuses %v", statuses(m))
		}
		if info, _ := ts.env.Service.GetKey(ctx, id); info.State != kms.StateActive {
			t.Errorf("state %s", info.State)
		}
	})
}
