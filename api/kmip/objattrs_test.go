package kmip

import (
	"fmt"
	"slices"
	"testing"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"
)

func aAltName(v string, typ kmip14.AlternativeNameType) tattr {
	return tattr{attrAlternativeName, func(e *ttlv.Encoder, tag ttlv.Tag) {
		_ = e.EncodeStructure(tag, func(e *ttlv.Encoder) error {
			e.EncodeTextString(kmip14.TagAlternativeNameValue, v)
			e.EncodeEnumeration(kmip14.TagAlternativeNameType, uint32(typ))
			return nil
		})
	}}
}

// aAppInfo is an Application Specific Information; data "-" leaves the
// Application Data out.
func aAppInfo(ns, data string) tattr {
	return tattr{attrAppInfo, func(e *ttlv.Encoder, tag ttlv.Tag) {
		_ = e.EncodeStructure(tag, func(e *ttlv.Encoder) error {
			e.EncodeTextString(kmip14.TagApplicationNamespace, ns)
			if data != "-" {
				e.EncodeTextString(kmip14.TagApplicationData, data)
			}
			return nil
		})
	}}
}

// getNamed is the payload of a Get Attributes asking for names.
func getNamed(v version, id string, names ...string) func(e *ttlv.Encoder) {
	return func(e *ttlv.Encoder) {
		idOnly(id)(e)
		for _, n := range names {
			if v.major < 2 {
				e.EncodeTextString(kmip14.TagAttributeName, n)
			} else {
				e.EncodeEnumeration(tagAttributeReference, uint32(attrTags[n]))
			}
		}
	}
}

func locateIDs(t *testing.T, it respItem) []string {
	t.Helper()
	return textChildren(mustSucceed(t, it).ResponsePayload, kmip14.TagUniqueIdentifier)
}

// TestLocateByUniqueIdentifier checks Locate's Unique Identifier filter
// (the OASIS SKFF-M-5 to 8 cases): an exact match, combined with the
// other filters, finding destroyed objects only when the State asks for
// them, and nothing for unknown or malformed identifiers.
func TestLocateByUniqueIdentifier(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	for _, v := range testVersions {
		t.Run(v.String(), func(t *testing.T) {
			sfx := v.String()
			a := createKey(t, c, v, aName("uid-a-"+sfx))
			b := createKey(t, c, v)
			gone := createKey(t, c, v)
			mustSucceed(t, do(t, c, v, kmip14.OperationDestroy, idOnly(gone)))
			uid := func(id string) tattr { return aText(attrUniqueIdentifier, id) }
			symmetric := aEnum(attrObjectType, uint32(kmip14.ObjectTypeSymmetricKey))
			tests := []struct {
				name  string
				attrs []tattr
				want  []string
			}{
				{"alone", []tattr{uid(a)}, []string{a}},
				{"with its type and name", []tattr{symmetric, uid(a), aName("uid-a-" + sfx)}, []string{a}},
				{"with another type", []tattr{uid(a), aEnum(attrObjectType, uint32(kmip14.ObjectTypeSecretData))}, nil},
				{"with another's name", []tattr{uid(b), aName("uid-a-" + sfx)}, nil},
				{"two identifiers", []tattr{uid(a), uid(b)}, nil},
				{"unknown", []tattr{uid("00000000-0000-4000-8000-000000000000")}, nil},
				{"not a key id", []tattr{uid("no//such id")}, nil},
				{"destroyed", []tattr{uid(gone)}, nil},
				{"destroyed, asked for", []tattr{uid(gone), aEnum(attrState, uint32(kmip14.StateDestroyed))}, []string{gone}},
			}
			for _, tc := range tests {
				if got := locateIDs(t, do(t, c, v, kmip14.OperationLocate, locatePayload(v, 0, 0, tc.attrs...))); !slices.Equal(got, tc.want) {
					t.Errorf("%s: Locate found %q, want %q", tc.name, got, tc.want)
				}
			}
			mustFail(t, do(t, c, v, kmip14.OperationLocate, locatePayload(v, 0, 0, aInt(attrUniqueIdentifier, 1))),
				kmip14.ResultReasonInvalidField)
		})
	}
}

// TestClientInfoAttributes checks Alternative Name and Application
// Specific Information (the OASIS TL-M-2 and TL-M-3 cases): set at
// Create, returned, found by Locate, added, modified and deleted as
// multi-instance attributes; malformed values are refused.
func TestClientInfoAttributes(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	for _, v := range testVersions {
		t.Run(v.String(), func(t *testing.T) {
			sfx := v.String()
			alt := aAltName("XXA012A1-"+sfx, kmip14.AlternativeNameTypeUninterpretedTextString)
			lto := aAppInfo("LIBRARY-LTO", "1234-"+sfx)
			id := createKey(t, c, v, alt, lto)
			other := createKey(t, c, v, aAppInfo("LIBRARY-LTO", "other-"+sfx))
			got := allAttrs(mustSucceed(t, do(t, c, v, kmip14.OperationGetAttributes, idOnly(id))).ResponsePayload)
			if g := fmt.Sprint(got[attrAlternativeName]); g != "[{XXA012A1-"+sfx+",1,}]" {
				t.Errorf("Alternative Name = %s", g)
			}
			if g := fmt.Sprint(got[attrAppInfo]); g != "[{LIBRARY-LTO,1234-"+sfx+",}]" {
				t.Errorf("Application Specific Information = %s", g)
			}
			symmetric := aEnum(attrObjectType, uint32(kmip14.ObjectTypeSymmetricKey))
			for _, tc := range []struct {
				name  string
				attrs []tattr
				want  []string
			}{
				{"by application", []tattr{symmetric, lto}, []string{id}},
				{"by alternative name", []tattr{alt}, []string{id}},
				{"by both", []tattr{alt, lto}, []string{id}},
				{"other data", []tattr{aAppInfo("LIBRARY-LTO", "other-"+sfx)}, []string{other}},
				{"other namespace", []tattr{aAppInfo("LIBRARY-X", "1234-"+sfx)}, nil},
				{"other name type", []tattr{aAltName("XXA012A1-"+sfx, kmip14.AlternativeNameTypeURI)}, nil},
			} {
				if ids := locateIDs(t, do(t, c, v, kmip14.OperationLocate, locatePayload(v, 0, 0, tc.attrs...))); !slices.Equal(ids, tc.want) {
					t.Errorf("Locate %s found %q, want %q", tc.name, ids, tc.want)
				}
			}

			// Multi-instance: a second value, changed, then deleted.
			second := aAppInfo("SECOND", "2")
			mustSucceed(t, do(t, c, v, kmip14.OperationAddAttribute, addPayload(v, id, second)))
			idx := int32(1)
			if v.major >= 2 {
				idx = -1
			}
			mustSucceed(t, do(t, c, v, kmip14.OperationModifyAttribute, modifyPayload(v, id, aAppInfo("SECOND", "3"), idx, &second)))
			if g := fmt.Sprint(getAll(t, c, v, id)[attrAppInfo]); g != "[{LIBRARY-LTO,1234-"+sfx+",} {SECOND,3,}]" {
				t.Errorf("after Add and Modify: %s", g)
			}
			mustSucceed(t, do(t, c, v, kmip14.OperationDeleteAttribute, deletePayload(v, id, attrAlternativeName, 0, &alt)))
			if g := getAll(t, c, v, id)[attrAlternativeName]; g != nil {
				t.Errorf("after Delete: Alternative Name %v", g)
			}

			for _, tc := range []struct {
				name string
				a    tattr
			}{
				{"no application data", aAppInfo("NS", "-")},
				{"empty namespace", aAppInfo("", "d")},
				{"unknown name type", aAltName("n", kmip14.AlternativeNameType(99))},
				{"empty alternative name", aAltName("", kmip14.AlternativeNameTypeURI)},
				{"alternative name as text", aText(attrAlternativeName, "n")},
			} {
				mustFail(t, do(t, c, v, kmip14.OperationCreate, createPayload(v, kmip14.ObjectTypeSymmetricKey, append(aes(128), tc.a)...)),
					kmip14.ResultReasonInvalidField)
			}
		})
	}
}

// TestServerAttributes checks Fresh, Lease Time and Random Number
// Generator (the OASIS SKFF-M-9 to 12 and TL-M-3 cases): a created key is
// fresh until its material is returned, also within the batch that
// creates it; the attributes are read only; the generator is reported
// for generated keys only, and only when asked for by name.
func TestServerAttributes(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	for _, v := range testVersions {
		t.Run(v.String(), func(t *testing.T) {
			// Create and Get in one batch, as TL-M-2 does.
			m := roundTrip(t, c, encodeRequest(t, v, reqOpts{},
				testItem{op: kmip14.OperationCreate, payload: createPayload(v, kmip14.ObjectTypeSymmetricKey, aes(256)...)},
				testItem{op: kmip14.OperationGet}))
			mustSucceed(t, m.BatchItem[0])
			mustSucceed(t, m.BatchItem[1])
			served := createdID(t, m.BatchItem[0])
			fresh := createKey(t, c, v)
			registered := createdID(t, mustSucceed(t, do(t, c, v, kmip14.OperationRegister,
				registerKey(v, kmip14.KeyFormatTypeRaw, make([]byte, 16), kmip14.CryptographicAlgorithmAES, 128))))
			names := []string{attrFresh, attrLeaseTime, attrRNG}
			rng := fmt.Sprintf("{%d,}", kmip14.RNGAlgorithmUnspecified)
			if v.major < 2 && v.minor < 3 { // Random Number Generator came with 1.3
				names, rng = names[:2], ""
			}
			tests := []struct {
				name, id string
				want     map[string][]string
			}{
				{"created", fresh, map[string][]string{attrFresh: {"true"}, attrLeaseTime: {"Interval"}, attrRNG: {rng}}},
				{"served", served, map[string][]string{attrFresh: {"false"}, attrLeaseTime: {"Interval"}, attrRNG: {rng}}},
				{"registered", registered, map[string][]string{attrFresh: {"true"}, attrLeaseTime: {"Interval"}}},
			}
			for _, tc := range tests {
				if tc.want[attrRNG] != nil && rng == "" {
					delete(tc.want, attrRNG)
				}
				got := allAttrs(mustSucceed(t, do(t, c, v, kmip14.OperationGetAttributes, getNamed(v, tc.id, names...))).ResponsePayload)
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
				}
				all := getAll(t, c, v, tc.id)
				if all[attrRNG] != nil || all[attrFresh] == nil || all[attrLeaseTime] == nil {
					t.Errorf("%s: Get Attributes of all: Fresh %v, Lease Time %v, Random Number Generator %v",
						tc.name, all[attrFresh], all[attrLeaseTime], all[attrRNG])
				}
			}
			p := mustSucceed(t, do(t, c, v, kmip14.OperationGetAttributes, getNamed(v, fresh, attrLeaseTime))).ResponsePayload
			for _, ch := range children(p) {
				var lease ttlv.TTLV
				if ch.Tag() == kmip14.TagLeaseTime {
					lease = ch
				} else if ch.Tag() == kmip14.TagAttribute {
					lease = child(ch, kmip14.TagAttributeValue)
				}
				if lease != nil && lease.ValueInterval() != leaseTime {
					t.Errorf("Lease Time = %v, want %v", lease.ValueInterval(), leaseTime)
				}
			}
			// A Get makes the fresh key served, for good.
			mustSucceed(t, do(t, c, v, kmip14.OperationGet, idOnly(fresh)))
			if g := getAll(t, c, v, fresh)[attrFresh]; !slices.Equal(g, []string{"false"}) {
				t.Errorf("Fresh after Get = %v", g)
			}
			for _, a := range []tattr{
				{attrFresh, func(e *ttlv.Encoder, tag ttlv.Tag) { e.EncodeBoolean(tag, true) }},
				{attrLeaseTime, func(e *ttlv.Encoder, tag ttlv.Tag) { e.EncodeInterval(tag, 0) }},
			} {
				mustFail(t, do(t, c, v, kmip14.OperationModifyAttribute, modifyPayload(v, fresh, a, -1, nil)),
					pick(v, kmip14.ResultReasonPermissionDenied, resultReasonAttributeReadOnly))
				mustFail(t, do(t, c, v, kmip14.OperationCreate, createPayload(v, kmip14.ObjectTypeSymmetricKey, append(aes(128), a)...)),
					kmip14.ResultReasonInvalidField)
			}
			list := mustSucceed(t, do(t, c, v, kmip14.OperationGetAttributeList, idOnly(fresh))).ResponsePayload
			n := 0
			for _, ch := range children(list) {
				name := ""
				if ch.Tag() == kmip14.TagAttributeName {
					name = ch.ValueTextString()
				} else if ch.Tag() == tagAttributeReference && ch.Type() == ttlv.TypeEnumeration {
					name, _ = attrNameOf(ttlv.Tag(ch.ValueEnumeration()))
				}
				if slices.Contains(names, name) {
					n++
				}
			}
			if n != len(names) {
				t.Errorf("Get Attribute List names %d of %v", n, names)
			}
		})
	}
}
