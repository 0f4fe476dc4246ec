package kmip

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gemalto/kmip-go/kmip14"

	"github.com/s3kms/s3kms/kms"
)

// TestLocateByName checks Locate by Name, which looks the Name up instead
// of scanning every key: the other filters and paging still apply, a
// destroyed key is found by its Name only when Destroyed is asked for,
// and the lookup is what runs (audited as key.find, not key.list).
func TestLocateByName(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	for _, v := range []version{{1, 4}, {2, 0}} {
		t.Run(fmt.Sprintf("%d.%d", v.major, v.minor), func(t *testing.T) {
			sfx := fmt.Sprintf("-%d%d", v.major, v.minor)
			create := func(attrs ...tattr) string {
				it := mustSucceed(t, do(t, c, v, kmip14.OperationCreate,
					createPayload(v, kmip14.ObjectTypeSymmetricKey, append(aes(256), attrs...)...)))
				return textChildren(it.ResponsePayload, kmip14.TagUniqueIdentifier)[0]
			}
			id := create(aName("first"+sfx), aName("second"+sfx), aText(attrObjectGroup, "g"+sfx))
			other := create(aName("other"+sfx), aText(attrObjectGroup, "g"+sfx))
			gone := create(aName("gone" + sfx))
			mustSucceed(t, do(t, c, v, kmip14.OperationDestroy, idOnly(gone)))

			destroyed := aEnum(attrState, uint32(kmip14.StateDestroyed))
			tests := []struct {
				name           string
				maxItems, skip int32
				attrs          []tattr
				want           []string
			}{
				{"name", 0, 0, []tattr{aName("first" + sfx)}, []string{id}},
				{"both names", 0, 0, []tattr{aName("second" + sfx), aName("first" + sfx)}, []string{id}},
				{"names of two keys", 0, 0, []tattr{aName("first" + sfx), aName("other" + sfx)}, nil},
				{"name and group", 0, 0, []tattr{aName("other" + sfx), aText(attrObjectGroup, "g"+sfx)}, []string{other}},
				{"name and other group", 0, 0, []tattr{aName("other" + sfx), aText(attrObjectGroup, "nope")}, nil},
				{"name and state", 0, 0, []tattr{aName("first" + sfx), aEnum(attrState, uint32(kmip14.StatePreActive))}, []string{id}},
				{"name and wrong state", 0, 0, []tattr{aName("first" + sfx), aEnum(attrState, uint32(kmip14.StateActive))}, nil},
				{"unknown name", 0, 0, []tattr{aName("nobody" + sfx)}, nil},
				{"offset past the match", 0, 1, []tattr{aName("first" + sfx)}, nil},
				{"maximum", 1, 0, []tattr{aName("first" + sfx)}, []string{id}},
				{"destroyed by name", 0, 0, []tattr{aName("gone" + sfx)}, nil},
				{"destroyed by name and state", 0, 0, []tattr{aName("gone" + sfx), destroyed}, []string{gone}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					p := mustSucceed(t, do(t, c, v, kmip14.OperationLocate,
						locatePayload(v, tt.maxItems, tt.skip, tt.attrs...))).ResponsePayload
					if got := textChildren(p, kmip14.TagUniqueIdentifier); !slices.Equal(got, tt.want) {
						t.Errorf("ids = %q, want %q", got, tt.want)
					}
					if tt.maxItems > 0 || tt.skip > 0 {
						var located []int32
						for _, ch := range children(p) {
							if ch.Tag() == kmip14.TagLocatedItems {
								located = append(located, ch.ValueInteger())
							}
						}
						if !slices.Equal(located, []int32{1}) {
							t.Errorf("Located Items = %v, want [1]", located)
						}
					}
				})
			}

			// The lookup ran rather than a scan.
			mustSucceed(t, do(t, c, v, kmip14.OperationLocate, locatePayload(v, 0, 0, aName("first"+sfx))))
			evs := ts.env.AuditEvents(t, kms.AuditFilter{Limit: 1})
			if len(evs) != 1 || evs[0].Operation != "key.find" || evs[0].KeyID != id {
				t.Errorf("last audit event = %+v, want key.find of %s", evs, id)
			}

			// A Name stays unique through Add Attribute and Create.
			it := do(t, c, v, kmip14.OperationCreate, createPayload(v, kmip14.ObjectTypeSymmetricKey,
				append(aes(256), aName("first"+sfx))...))
			want := kmip14.ResultReasonObjectAlreadyExists
			if v.major >= 2 {
				want = resultReasonNonUniqueNameAttribute
			}
			mustFail(t, it, want)
			if !strings.Contains(it.ResultMessage, "first"+sfx) {
				t.Errorf("message %q does not name the Name", it.ResultMessage)
			}
		})
	}
}
