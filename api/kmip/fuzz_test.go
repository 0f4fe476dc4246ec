package kmip

import (
	"testing"

	"github.com/gemalto/kmip-go/kmip14"
)

// FuzzHandleMessage feeds arbitrary bytes to the request decoder and
// dispatcher with a fake identity. It must never panic and must always
// produce a Response Message that our own parser accepts. Seeds are in
// testdata/fuzz/FuzzHandleMessage.
func FuzzHandleMessage(f *testing.F) {
	f.Add(encodeRequest(f, version{1, 4}, reqOpts{}, testItem{op: kmip14.OperationDiscoverVersions, id: []byte{1}}))
	f.Add(encodeRequest(f, version{2, 0}, reqOpts{onError: kmip14.BatchErrorContinuationOptionContinue},
		testItem{op: kmip14.OperationQuery, payload: queryPayload(kmip14.QueryFunctionQueryOperations)},
		testItem{op: kmip14.OperationCreate}))
	h := newHandler(nil, nil)
	sessions := []session{
		{identity: "fuzz", known: true},
		{identity: "stranger", known: false},
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, s := range sessions {
			resp := h.handleMessage(t.Context(), s, b)
			n, err := parseTTLV(resp)
			if err != nil || n.tag != kmip14.TagResponseMessage {
				t.Fatalf("invalid response (%v)", err)
			}
			if len(n.children(kmip14.TagBatchItem)) == 0 {
				t.Fatal("response without batch items")
			}
		}
	})
}
