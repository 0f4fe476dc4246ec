package kmip

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"

	"github.com/s3kms/s3kms/kms"
)

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// tattr is a request attribute: its 1.x name and its value, written with
// the tag it is given (Attribute Value in 1.x, its own tag in 2.0).
type tattr struct {
	name string
	enc  func(e *ttlv.Encoder, tag ttlv.Tag)
}

func aEnum(name string, v uint32) tattr {
	return tattr{name, func(e *ttlv.Encoder, tag ttlv.Tag) { e.EncodeEnumeration(tag, v) }}
}
func aInt(name string, v int32) tattr {
	return tattr{name, func(e *ttlv.Encoder, tag ttlv.Tag) { e.EncodeInteger(tag, v) }}
}
func aText(name, v string) tattr {
	return tattr{name, func(e *ttlv.Encoder, tag ttlv.Tag) { e.EncodeTextString(tag, v) }}
}
func aName(v string) tattr {
	return tattr{attrName, func(e *ttlv.Encoder, tag ttlv.Tag) {
		_ = e.EncodeStructure(tag, func(e *ttlv.Encoder) error {
			e.EncodeTextString(kmip14.TagNameValue, v)
			e.EncodeEnumeration(kmip14.TagNameType, uint32(kmip14.NameTypeUninterpretedTextString))
			return nil
		})
	}}
}

// encAttrs writes attributes in v's form: 1.x Attribute structures
// (inside a Template-Attribute when template is set), or a 2.0
// Attributes structure.
func encAttrs(e *ttlv.Encoder, v version, template bool, attrs []tattr) {
	if v.major >= 2 {
		_ = e.EncodeStructure(tagAttributes, func(e *ttlv.Encoder) error {
			for _, a := range attrs {
				if isCustom(a.name) { // a Vendor Attribute
					_ = e.EncodeStructure(tagVendorAttribute, func(e *ttlv.Encoder) error {
						e.EncodeTextString(kmip14.TagVendorIdentification, a.name[:1])
						e.EncodeTextString(kmip14.TagAttributeName, a.name[2:])
						a.enc(e, kmip14.TagAttributeValue)
						return nil
					})
					continue
				}
				a.enc(e, attrTags[a.name])
			}
			return nil
		})
		return
	}
	list := func(e *ttlv.Encoder) error {
		for _, a := range attrs {
			_ = e.EncodeStructure(kmip14.TagAttribute, func(e *ttlv.Encoder) error {
				e.EncodeTextString(kmip14.TagAttributeName, a.name)
				a.enc(e, kmip14.TagAttributeValue)
				return nil
			})
		}
		return nil
	}
	if template {
		_ = e.EncodeStructure(kmip14.TagTemplateAttribute, list)
		return
	}
	_ = list(e)
}

func createPayload(v version, ot kmip14.ObjectType, attrs ...tattr) func(e *ttlv.Encoder) {
	return func(e *ttlv.Encoder) {
		e.EncodeEnumeration(kmip14.TagObjectType, uint32(ot))
		encAttrs(e, v, true, attrs)
	}
}

func aes(length int32) []tattr {
	return []tattr{aEnum(attrAlgorithm, uint32(kmip14.CryptographicAlgorithmAES)), aInt(attrLength, length)}
}

func idOnly(id string) func(e *ttlv.Encoder) {
	return func(e *ttlv.Encoder) {
		if id != "" {
			e.EncodeTextString(kmip14.TagUniqueIdentifier, id)
		}
	}
}

func revokePayload(id string, code kmip14.RevocationReasonCode) func(e *ttlv.Encoder) {
	return func(e *ttlv.Encoder) {
		idOnly(id)(e)
		_ = e.EncodeStructure(kmip14.TagRevocationReason, func(e *ttlv.Encoder) error {
			e.EncodeEnumeration(kmip14.TagRevocationReasonCode, uint32(code))
			return nil
		})
	}
}

func locatePayload(v version, maxItems, offset int32, attrs ...tattr) func(e *ttlv.Encoder) {
	return func(e *ttlv.Encoder) {
		if maxItems > 0 {
			e.EncodeInteger(kmip14.TagMaximumItems, maxItems)
		}
		if offset > 0 {
			e.EncodeInteger(kmip14.TagOffsetItems, offset)
		}
		encAttrs(e, v, false, attrs)
	}
}

// do sends one batch item and returns the response item.
func do(t *testing.T, c net.Conn, v version, op kmip14.Operation, payload func(e *ttlv.Encoder)) respItem {
	t.Helper()
	m := roundTrip(t, c, encodeRequest(t, v, reqOpts{}, testItem{op: op, payload: payload}))
	return m.BatchItem[0]
}

func mustSucceed(t *testing.T, it respItem) respItem {
	t.Helper()
	if it.ResultStatus != kmip14.ResultStatusSuccess {
		t.Fatalf("%s failed: %s: %s", it.Operation, it.ResultReason, it.ResultMessage)
	}
	return it
}

func mustFail(t *testing.T, it respItem, reason kmip14.ResultReason) {
	t.Helper()
	if it.ResultStatus != kmip14.ResultStatusOperationFailed || it.ResultReason != reason || it.ResultMessage == "" {
		t.Fatalf("%s: got %s %s %q, want failure %s", it.Operation, it.ResultStatus, it.ResultReason, it.ResultMessage, reason)
	}
}

// children lists the children of a response payload.
func children(p ttlv.TTLV) []ttlv.TTLV {
	var out []ttlv.TTLV
	for c := p.ValueStructure(); len(c) > 0; c = c.Next() {
		out = append(out, c)
	}
	return out
}

func textChildren(p ttlv.TTLV, tag ttlv.Tag) []string {
	var out []string
	for _, c := range children(p) {
		if c.Tag() == tag {
			out = append(out, c.ValueTextString())
		}
	}
	return out
}

// valueString renders an attribute value for comparison.
func valueString(t ttlv.TTLV) string {
	switch t.Type() {
	case ttlv.TypeEnumeration:
		return fmt.Sprint(uint32(t.ValueEnumeration()))
	case ttlv.TypeInteger:
		return fmt.Sprint(t.ValueInteger())
	case ttlv.TypeTextString:
		return t.ValueTextString()
	case ttlv.TypeDateTime:
		return "date"
	case ttlv.TypeBoolean:
		return fmt.Sprint(t.ValueBoolean())
	case ttlv.TypeInterval:
		return t.ValueInterval().String()
	case ttlv.TypeStructure:
		if n := textChildren(t, kmip14.TagNameValue); len(n) > 0 {
			return "name:" + n[0]
		}
		return "struct"
	}
	return "?"
}

// attrsOf decodes the attributes of a Get Attributes response: name →
// values, from 1.x Attribute structures or a 2.0 Attributes structure.
func attrsOf(t *testing.T, v version, p ttlv.TTLV) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, c := range children(p) {
		switch c.Tag() {
		case kmip14.TagAttribute:
			var name string
			var val ttlv.TTLV
			for _, f := range children(c) {
				switch f.Tag() {
				case kmip14.TagAttributeName:
					name = f.ValueTextString()
				case kmip14.TagAttributeValue:
					val = f
				}
			}
			out[name] = append(out[name], valueString(val))
		case tagAttributes:
			if v.major < 2 {
				t.Errorf("Attributes structure at %s", v)
			}
			for _, a := range children(c) {
				name, ok := attrNameOf(a.Tag())
				if !ok {
					t.Errorf("unknown attribute tag %s", a.Tag())
				}
				out[name] = append(out[name], valueString(a))
			}
		}
	}
	return out
}

func state(s kmip14.State) string { return fmt.Sprint(uint32(s)) }

func TestKeyLifecycle(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	for _, v := range []version{{1, 0}, {1, 2}, {1, 4}, {2, 0}} {
		t.Run(v.String(), func(t *testing.T) {
			name, group := "lifecycle-"+v.String(), "group-"+v.String()
			attrs := append(aes(256), aInt(attrUsageMask, 12), aName(name), aText(attrObjectGroup, group))
			if v.major < 2 {
				attrs = append(attrs, aText("x-purpose", "test"))
			}
			it := mustSucceed(t, do(t, c, v, kmip14.OperationCreate, createPayload(v, kmip14.ObjectTypeSymmetricKey, attrs...)))
			ids := textChildren(it.ResponsePayload, kmip14.TagUniqueIdentifier)
			if len(ids) != 1 || !uuidPattern.MatchString(ids[0]) {
				t.Fatalf("Create returned ids %q, want one UUID", ids)
			}
			id := ids[0]

			// The kms key: material, exportable, pre-active, owned by the caller.
			ctx := kms.WithIdentity(context.Background(), ts.env.Admin.Identity)
			info, err := ts.env.Service.GetKey(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if info.Purpose != kms.PurposeMaterial || !info.Exportable || info.State != kms.StatePreActive ||
				info.Owner != string(ts.env.Admin.Identity) {
				t.Errorf("kms key = %+v", info.Key)
			}

			got := attrsOf(t, v, mustSucceed(t, do(t, c, v, kmip14.OperationGetAttributes, idOnly(id))).ResponsePayload)
			want := map[string][]string{
				attrUniqueIdentifier: {id},
				attrObjectType:       {fmt.Sprint(uint32(kmip14.ObjectTypeSymmetricKey))},
				attrAlgorithm:        {fmt.Sprint(uint32(kmip14.CryptographicAlgorithmAES))},
				attrLength:           {"256"},
				attrUsageMask:        {"12"},
				attrState:            {state(kmip14.StatePreActive)},
				attrName:             {"name:" + name},
				attrObjectGroup:      {group},
				attrInitialDate:      {"date"},
				attrLastChangeDate:   {"date"},
				attrDigest:           {"struct"},
				attrLeaseTime:        {"1h0m0s"},
			}
			if v.major < 2 {
				want["x-purpose"] = []string{"test"}
			}
			if v.major >= 2 || v.minor >= 1 {
				want[attrFresh] = []string{"true"}
			}
			// Original Creation Date (1.2), Random Number Generator
			// (1.3), Sensitive, Always Sensitive, Extractable and Never
			// Extractable (1.4) are listed, and returned only by name.
			listed := len(want)
			if v.major >= 2 || v.minor >= 2 {
				listed++
			}
			if v.major >= 2 || v.minor >= 3 {
				listed++
			}
			if v.major >= 2 || v.minor >= 4 {
				listed += 4
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("Get Attributes:\n got %v\nwant %v", got, want)
			}

			list := mustSucceed(t, do(t, c, v, kmip14.OperationGetAttributeList, idOnly(id))).ResponsePayload
			var names []string
			if v.major < 2 {
				names = textChildren(list, kmip14.TagAttributeName)
			} else {
				for _, ch := range children(list) {
					if ch.Tag() == tagAttributeReference {
						n, _ := attrNameOf(ttlv.Tag(ch.ValueEnumeration()))
						names = append(names, n)
					}
				}
			}
			if !slices.Contains(names, attrName) || !slices.Contains(names, attrState) || len(names) != listed {
				t.Errorf("Get Attribute List = %q", names)
			}

			locate := func(attrs ...tattr) []string {
				return textChildren(mustSucceed(t, do(t, c, v, kmip14.OperationLocate, locatePayload(v, 0, 0, attrs...))).ResponsePayload,
					kmip14.TagUniqueIdentifier)
			}
			if got := locate(aName(name)); !slices.Equal(got, []string{id}) {
				t.Errorf("Locate by name = %q", got)
			}
			if got := locate(aText(attrObjectGroup, group), aEnum(attrState, uint32(kmip14.StatePreActive)),
				aEnum(attrObjectType, uint32(kmip14.ObjectTypeSymmetricKey))); !slices.Equal(got, []string{id}) {
				t.Errorf("Locate by group, state and type = %q", got)
			}
			if got := locate(aName(name), aEnum(attrState, uint32(kmip14.StateActive))); len(got) != 0 {
				t.Errorf("Locate by name and Active = %q, want none", got)
			}

			mustSucceed(t, do(t, c, v, kmip14.OperationActivate, idOnly(id)))
			got = attrsOf(t, v, mustSucceed(t, do(t, c, v, kmip14.OperationGetAttributes, func(e *ttlv.Encoder) {
				e.EncodeTextString(kmip14.TagUniqueIdentifier, id)
				if v.major < 2 {
					e.EncodeTextString(kmip14.TagAttributeName, attrState)
				} else {
					e.EncodeEnumeration(tagAttributeReference, uint32(kmip14.TagState))
				}
			})).ResponsePayload)
			if fmt.Sprint(got) != fmt.Sprint(map[string][]string{attrState: {state(kmip14.StateActive)}}) {
				t.Errorf("State after Activate: %v", got)
			}
			wrongState := kmip14.ResultReasonPermissionDenied
			if v.major >= 2 {
				wrongState = resultReasonWrongKeyLifecycleState
			}
			mustFail(t, do(t, c, v, kmip14.OperationActivate, idOnly(id)), wrongState)
			mustFail(t, do(t, c, v, kmip14.OperationDestroy, idOnly(id)), wrongState)

			mustSucceed(t, do(t, c, v, kmip14.OperationRevoke, revokePayload(id, kmip14.RevocationReasonCodeCessationOfOperation)))
			if info, _ := ts.env.Service.GetKey(ctx, id); info.State != kms.StateDeactivated {
				t.Errorf("state after Revoke = %s", info.State)
			}
			mustSucceed(t, do(t, c, v, kmip14.OperationDestroy, idOnly(id)))
			if info, _ := ts.env.Service.GetKey(ctx, id); info.State != kms.StateDestroyed {
				t.Errorf("state after Destroy = %s", info.State)
			}
			mustFail(t, do(t, c, v, kmip14.OperationDestroy, idOnly(id)), kmip14.ResultReasonItemNotFound)
			if got := locate(aName(name)); len(got) != 0 {
				t.Errorf("Locate finds the destroyed key: %q", got)
			}
			if got := locate(aName(name), aEnum(attrState, uint32(kmip14.StateDestroyed))); !slices.Equal(got, []string{id}) {
				t.Errorf("Locate by name and Destroyed = %q", got)
			}
		})
	}
}

func TestKeyOperationErrors(t *testing.T) {
	ts := startServer(t, Config{})
	admin := ts.dial(t)
	node := ts.dialWith(t, ts.env.TLSConfig(ts.env.S3Node))
	v14, v20 := version{1, 4}, version{2, 0}
	missing := "00000000-0000-4000-8000-000000000000"
	sym := kmip14.ObjectTypeSymmetricKey
	tests := []struct {
		name    string
		conn    net.Conn
		v       version
		op      kmip14.Operation
		payload func(e *ttlv.Encoder)
		reason  kmip14.ResultReason
	}{
		{"create AES-100", admin, v14, kmip14.OperationCreate, createPayload(v14, sym, aes(100)...), kmip14.ResultReasonInvalidField},
		{"create AES-512 at 2.0", admin, v20, kmip14.OperationCreate, createPayload(v20, sym, aes(512)...), kmip14.ResultReasonInvalidField},
		{"create RSA", admin, v14, kmip14.OperationCreate, createPayload(v14, sym,
			aEnum(attrAlgorithm, uint32(kmip14.CryptographicAlgorithmRSA)), aInt(attrLength, 2048)), kmip14.ResultReasonInvalidField},
		{"create 3DES-128", admin, v14, kmip14.OperationCreate, createPayload(v14, sym,
			aEnum(attrAlgorithm, uint32(kmip14.CryptographicAlgorithmDES3)), aInt(attrLength, 128)), kmip14.ResultReasonInvalidField},
		{"create without length", admin, v14, kmip14.OperationCreate, createPayload(v14, sym, aes(256)[:1]...), kmip14.ResultReasonInvalidField},
		{"create secret data", admin, v14, kmip14.OperationCreate, createPayload(v14, kmip14.ObjectTypeSecretData, aes(256)...), kmip14.ResultReasonInvalidField},
		{"create sensitive", admin, v14, kmip14.OperationCreate, createPayload(v14, sym,
			append(aes(256), tattr{attrSensitive, func(e *ttlv.Encoder, tag ttlv.Tag) { e.EncodeBoolean(tag, true) }})...), kmip14.ResultReasonInvalidField},
		{"create with unsupported attribute", admin, v14, kmip14.OperationCreate, createPayload(v14, sym,
			append(aes(256), aText("Process Start Date", "me"))...), kmip14.ResultReasonInvalidField},
		{"create with future activation", admin, v14, kmip14.OperationCreate, createPayload(v14, sym,
			append(aes(256), tattr{attrActivationDate, func(e *ttlv.Encoder, tag ttlv.Tag) {
				e.EncodeDateTime(tag, time.Now().Add(time.Hour))
			}})...), kmip14.ResultReasonInvalidField},
		{"create not allowed by the policy", node, v14, kmip14.OperationCreate, createPayload(v14, sym, aes(256)...), kmip14.ResultReasonPermissionDenied},
		{"activate missing", admin, v14, kmip14.OperationActivate, idOnly(missing), kmip14.ResultReasonItemNotFound},
		{"activate without id or placeholder", admin, v14, kmip14.OperationActivate, idOnly(""), kmip14.ResultReasonInvalidField},
		{"revoke without reason", admin, v14, kmip14.OperationRevoke, idOnly(missing), kmip14.ResultReasonInvalidField},
		{"destroy missing", admin, v20, kmip14.OperationDestroy, idOnly(missing), kmip14.ResultReasonItemNotFound},
		{"get attributes missing", admin, v14, kmip14.OperationGetAttributes, idOnly(missing), kmip14.ResultReasonItemNotFound},
		{"get attribute list missing", admin, v20, kmip14.OperationGetAttributeList, idOnly(missing), kmip14.ResultReasonItemNotFound},
		{"locate by unsupported attribute", admin, v14, kmip14.OperationLocate, locatePayload(v14, 0, 0,
			aText("Contact Information", "me")), kmip14.ResultReasonInvalidField},
		{"get missing", admin, v14, kmip14.OperationGet, idOnly(missing), kmip14.ResultReasonItemNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustFail(t, do(t, tt.conn, tt.v, tt.op, tt.payload), tt.reason)
		})
	}
}

func TestIDPlaceholder(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	for _, v := range []version{{1, 2}, {2, 0}} {
		t.Run(v.String(), func(t *testing.T) {
			m := roundTrip(t, c, encodeRequest(t, v, reqOpts{},
				testItem{op: kmip14.OperationCreate, payload: createPayload(v, kmip14.ObjectTypeSymmetricKey, aes(256)...)},
				testItem{op: kmip14.OperationActivate},
				testItem{op: kmip14.OperationGetAttributes}))
			for _, it := range m.BatchItem {
				mustSucceed(t, it)
			}
			id := textChildren(m.BatchItem[0].ResponsePayload, kmip14.TagUniqueIdentifier)[0]
			if got := textChildren(m.BatchItem[1].ResponsePayload, kmip14.TagUniqueIdentifier); !slices.Equal(got, []string{id}) {
				t.Errorf("Activate acted on %q, want %s", got, id)
			}
			got := attrsOf(t, v, m.BatchItem[2].ResponsePayload)
			if !slices.Equal(got[attrState], []string{state(kmip14.StateActive)}) || !slices.Equal(got[attrUniqueIdentifier], []string{id}) {
				t.Errorf("Get Attributes through the placeholder = %v", got)
			}
		})
	}
}

func TestLocatePaging(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	v := version{1, 4}
	var ids []string
	for range 3 {
		it := mustSucceed(t, do(t, c, v, kmip14.OperationCreate, createPayload(v, kmip14.ObjectTypeSymmetricKey,
			append(aes(256), aText(attrObjectGroup, "paged"))...)))
		ids = append(ids, textChildren(it.ResponsePayload, kmip14.TagUniqueIdentifier)[0])
	}
	// An unrelated key, not in the group.
	mustSucceed(t, do(t, c, v, kmip14.OperationCreate, createPayload(v, kmip14.ObjectTypeSymmetricKey, aes(256)...)))
	slices.Sort(ids)
	tests := []struct {
		maxItems, offset int32
		want             []string
	}{
		{0, 0, ids},
		{2, 0, ids[:2]},
		{2, 2, ids[2:]},
		{0, 1, ids[1:]},
		{5, 3, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("max=%d,offset=%d", tt.maxItems, tt.offset), func(t *testing.T) {
			p := mustSucceed(t, do(t, c, v, kmip14.OperationLocate,
				locatePayload(v, tt.maxItems, tt.offset, aText(attrObjectGroup, "paged")))).ResponsePayload
			if got := textChildren(p, kmip14.TagUniqueIdentifier); !slices.Equal(got, tt.want) {
				t.Errorf("ids = %q, want %q", got, tt.want)
			}
			var located []int32
			for _, ch := range children(p) {
				if ch.Tag() == kmip14.TagLocatedItems {
					located = append(located, ch.ValueInteger())
				}
			}
			paging := tt.maxItems > 0 || tt.offset > 0
			if (paging && !slices.Equal(located, []int32{3})) || (!paging && located != nil) {
				t.Errorf("Located Items = %v", located)
			}
		})
	}
}

func TestStateChanges(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	ctx := kms.WithIdentity(context.Background(), ts.env.Admin.Identity)
	v := version{1, 2}
	create := func(t *testing.T) string {
		it := mustSucceed(t, do(t, c, v, kmip14.OperationCreate, createPayload(v, kmip14.ObjectTypeSymmetricKey, aes(256)...)))
		return textChildren(it.ResponsePayload, kmip14.TagUniqueIdentifier)[0]
	}
	tests := []struct {
		name  string
		steps []func(t *testing.T, id string) respItem
		want  kms.State
	}{
		{"destroy pre-active", []func(*testing.T, string) respItem{
			func(t *testing.T, id string) respItem { return do(t, c, v, kmip14.OperationDestroy, idOnly(id)) },
		}, kms.StateDestroyed},
		{"revoke pre-active", []func(*testing.T, string) respItem{
			func(t *testing.T, id string) respItem {
				return do(t, c, v, kmip14.OperationRevoke, revokePayload(id, kmip14.RevocationReasonCodeSuperseded))
			},
		}, kms.StateDeactivated},
		{"revoke for key compromise", []func(*testing.T, string) respItem{
			func(t *testing.T, id string) respItem { return do(t, c, v, kmip14.OperationActivate, idOnly(id)) },
			func(t *testing.T, id string) respItem {
				return do(t, c, v, kmip14.OperationRevoke, revokePayload(id, kmip14.RevocationReasonCodeKeyCompromise))
			},
		}, kms.StateCompromised},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := create(t)
			for _, step := range tt.steps {
				mustSucceed(t, step(t, id))
			}
			if info, err := ts.env.Service.GetKey(ctx, id); err != nil || info.State != tt.want {
				t.Errorf("state = %s (%v), want %s", info.State, err, tt.want)
			}
		})
	}
}

// TestBucketKeysAreNotKMIPObjects checks that SSE-S3 bucket root keys stay
// out of KMIP: not found by id, not located.
func TestBucketKeysAreNotKMIPObjects(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	ctx := kms.WithIdentity(context.Background(), ts.env.Admin.Identity)
	id := kms.BucketKeyID("0123")
	if _, err := ts.env.Service.CreateKey(ctx, kms.CreateKeyRequest{ID: id, Purpose: kms.PurposeBucketRoot}); err != nil {
		t.Fatal(err)
	}
	v := version{1, 4}
	mustFail(t, do(t, c, v, kmip14.OperationGetAttributes, idOnly(id)), kmip14.ResultReasonItemNotFound)
	mustFail(t, do(t, c, v, kmip14.OperationRevoke, revokePayload(id, kmip14.RevocationReasonCodeKeyCompromise)),
		kmip14.ResultReasonItemNotFound)
	mustFail(t, do(t, c, v, kmip14.OperationDestroy, idOnly(id)), kmip14.ResultReasonItemNotFound)
	p := mustSucceed(t, do(t, c, v, kmip14.OperationLocate, locatePayload(v, 0, 0))).ResponsePayload
	if got := textChildren(p, kmip14.TagUniqueIdentifier); len(got) != 0 {
		t.Errorf("Locate found %q", got)
	}
}
