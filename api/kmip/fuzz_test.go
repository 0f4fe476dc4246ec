package kmip

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/gemalto/kmip-go/kmip14"

	"github.com/s3kms/s3kms/api/apitest"
	"github.com/s3kms/s3kms/kms"
)

// FuzzHandleMessage feeds arbitrary bytes to the request decoder and
// dispatcher, as the policy's admin and as an unknown identity, over a
// real KMS. It must never panic and must always
// produce a Response Message that our own parser accepts. Seeds are in
// testdata/fuzz/FuzzHandleMessage.
func FuzzHandleMessage(f *testing.F) {
	f.Add(encodeRequest(f, version{1, 4}, reqOpts{}, testItem{op: kmip14.OperationDiscoverVersions, id: []byte{1}}))
	f.Add(encodeRequest(f, version{2, 0}, reqOpts{onError: kmip14.BatchErrorContinuationOptionContinue},
		testItem{op: kmip14.OperationQuery, payload: queryPayload(kmip14.QueryFunctionQueryOperations)},
		testItem{op: kmip14.OperationCreate}))
	f.Add(encodeRequest(f, version{1, 4}, reqOpts{onError: kmip14.BatchErrorContinuationOptionContinue},
		testItem{op: kmip14.OperationCreate, payload: createPayload(version{1, 4}, kmip14.ObjectTypeSymmetricKey, aes(256)...)},
		testItem{op: kmip14.OperationGetAttributes}, testItem{op: kmip14.OperationLocate}))
	// The attribute operations, Check, ReKey and an Undo batch, at 1.4
	// and 2.0, on the key the batch creates (the ID Placeholder).
	for _, v := range []version{{1, 4}, {2, 0}} {
		f.Add(encodeRequest(f, v, reqOpts{onError: kmip14.BatchErrorContinuationOptionUndo},
			testItem{op: kmip14.OperationCreate, payload: createPayload(v, kmip14.ObjectTypeSymmetricKey,
				append(aes(256), aName("fuzz"), aText("x-a", "b"))...)},
			testItem{op: kmip14.OperationAddAttribute, payload: addPayload(v, "", aText(attrObjectGroup, "g"))},
			testItem{op: kmip14.OperationModifyAttribute, payload: modifyPayload(v, "", aText("x-a", "c"), 0, nil)},
			testItem{op: kmip14.OperationDeleteAttribute, payload: deletePayload(v, "", attrObjectGroup, 0, nil)},
			testItem{op: kmip14.OperationActivate},
			testItem{op: kmip14.OperationCheck},
			testItem{op: kmip14.OperationReKey},
			testItem{op: kmip14.OperationDestroy},
			testItem{op: kmip14.OperationGet}))
	}
	v14, v20 := version{1, 4}, version{2, 0}
	f.Add(encodeRequest(f, v14, reqOpts{onError: kmip14.BatchErrorContinuationOptionContinue},
		testItem{op: kmip14.OperationRegister, payload: registerKey(v14, kmip14.KeyFormatTypeTransparentSymmetricKey,
			make([]byte, 16), kmip14.CryptographicAlgorithmAES, 128)},
		testItem{op: kmip14.OperationGet, payload: getPayload("", kmip14.KeyFormatTypeRaw)}))
	f.Add(encodeRequest(f, v20, reqOpts{onError: kmip14.BatchErrorContinuationOptionContinue},
		testItem{op: kmip14.OperationRegister, payload: registerSecret(v20, kmip14.SecretDataTypePassword,
			kmip14.KeyFormatTypeOpaque, []byte("pw"), aName("fuzz"))},
		testItem{op: kmip14.OperationGet},
		testItem{op: kmip14.OperationRegister, payload: registerOpaquePayload(v20, 0x80000000, []byte{1})},
		testItem{op: kmip14.OperationDestroy}))
	// A real KMS, so that key operations run rather than fail on a nil
	// service (the handler would recover, but the inputs would test less).
	env := apitest.New(f, apitest.Options{})
	var logged syncBuffer
	h := newHandler(env.Service, slog.New(slog.NewTextHandler(&logged, nil)))
	sessions := []session{
		{identity: env.Admin.Identity, known: true},
		{identity: "stranger", known: false},
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, s := range sessions {
			resp := h.handleMessage(kms.WithIdentity(t.Context(), s.identity), s, b)
			n, err := parseTTLV(resp)
			if err != nil || n.tag != kmip14.TagResponseMessage {
				t.Fatalf("invalid response (%v)", err)
			}
			if len(n.children(kmip14.TagBatchItem)) == 0 {
				t.Fatal("response without batch items")
			}
			if out := logged.String(); strings.Contains(out, "panic") {
				t.Fatalf("the handler recovered from a panic:\n%s", out)
			}
		}
	})
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
