package kmip

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/gemalto/kmip-go/kmip14"

	"github.com/s3kms/s3kms/api"
	"github.com/s3kms/s3kms/api/apitest"
	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/test/kmip/kmipvectors"
)

// startServerWithOps is startServer with env options and extra rows in
// the operation table.
func startServerWithOps(t *testing.T, opts apitest.Options, extra map[kmip14.Operation]operation) *testServer {
	t.Helper()
	env := apitest.New(t, opts)
	srv, err := NewServer(Config{Service: env.Service, TLSConfig: api.NewTLSConfig(env.CA.Server(t).TLS, env.CA.Pool)})
	if err != nil {
		t.Fatal(err)
	}
	for op, row := range extra {
		srv.h.ops[op] = row
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &testServer{env: env, addr: ln.Addr().String()}
}

// testRegister is a stand-in for KMIP Register (another slice's): it
// registers the Raw symmetric key of the OASIS CS-BC cases as an Active
// (with an Activation Date) PurposeMaterial key with its Cryptographic
// Usage Mask, Cryptographic Parameters, Process Start and Protect Stop
// Dates. Other attributes are ignored.
func testRegister(h *handler, c call) (encodeFunc, error) {
	attrs, err := requestAttributes(c, true)
	if err != nil {
		return nil, err
	}
	a := kms.Attributes{}
	state := kms.StatePreActive
	for _, at := range attrs {
		switch at.name {
		case attrUsageMask:
			a.UsageMask, _ = at.value.integer()
		case attrActivationDate:
			state = kms.StateActive
		case "Cryptographic Parameters":
			p, err := parseCryptoParams(at.value)
			if err != nil {
				return nil, err
			}
			a.Params = &p
		case "Process Start Date":
			d, _ := at.value.dateTime()
			a.ProcessStartDate = &d
		case "Protect Stop Date":
			d, _ := at.value.dateTime()
			a.ProtectStopDate = &d
		}
	}
	sk, _ := c.payload.child(kmip14.TagSymmetricKey)
	kb, _ := sk.child(kmip14.TagKeyBlock)
	kv, _ := kb.child(kmip14.TagKeyValue)
	km, _ := kv.child(kmip14.TagKeyMaterial)
	material, err := byteString(km)
	if err != nil {
		return nil, fieldError("no Key Material")
	}
	alg, _ := kb.child(kmip14.TagCryptographicAlgorithm)
	e, _ := alg.enum()
	a.Algorithm = cryptoAlgorithms[kmip14.CryptographicAlgorithm(e)]
	l, _ := kb.child(kmip14.TagCryptographicLength)
	n, _ := l.integer()
	a.Length = int(n)
	id := newUUID()
	if _, err := h.svc.CreateKey(c.ctx, kms.CreateKeyRequest{ID: id, Purpose: kms.PurposeMaterial, State: state,
		Attributes: a, Material: material}); err != nil {
		return nil, err
	}
	*c.placeholder = id
	return idPayload(id), nil
}

// testRevoke and testDestroy stand in for Revoke and Destroy, which do not
// admit PurposeMaterial keys yet (another slice widens kmipKey).
func testRevoke(h *handler, c call) (encodeFunc, error) {
	id, err := uniqueID(c)
	if err != nil {
		return nil, err
	}
	if _, err := h.svc.SetState(c.ctx, id, kms.StateDeactivated); err != nil {
		return nil, err
	}
	return idPayload(id), nil
}

func testDestroy(h *handler, c call) (encodeFunc, error) {
	id, err := uniqueID(c)
	if err != nil {
		return nil, err
	}
	if _, err := h.svc.DestroyKey(c.ctx, id); err != nil {
		return nil, err
	}
	return idPayload(id), nil
}

// TestOASISCryptoCases replays the OASIS KMIP 1.4 CS-BC-M (Register,
// Encrypt, Decrypt, Revoke, Destroy) test cases, results and payloads,
// with stand-ins for Register, Revoke and Destroy: the Encrypt and
// Decrypt answers are this slice's. CS-BC-M-7 (Usage Limits) is expected
// to fail: usage limits are not enforced.
func TestOASISCryptoCases(t *testing.T) {
	ts := startServerWithOps(t, apitest.Options{}, map[kmip14.Operation]operation{
		kmip14.OperationRegister: {handle: testRegister},
		kmip14.OperationRevoke:   {handle: testRevoke},
		kmip14.OperationDestroy:  {handle: testDestroy},
	})
	files, err := filepath.Glob("../../test/kmip/kmipvectors/testdata/v1.4/CS-BC-M-*.xml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no CS-BC-M cases: %v", err)
	}
	supported := map[string]bool{"Register": true, "Encrypt": true, "Decrypt": true, "Revoke": true, "Destroy": true}
	known := map[string]string{"CS-BC-M-7-14": "usage limits are not enforced"}
	ran := 0
	for _, f := range files {
		tc, err := kmipvectors.LoadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(tc.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := kmipvectors.Dial(ctx, ts.addr, ts.env.TLSConfig(ts.env.Admin))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			res := kmipvectors.Replay(c, tc, supported)
			switch {
			case res.Status == kmipvectors.Blocked:
				t.Skipf("blocked: %s", res.Detail) // Create-based cases
			case known[tc.Name] != "":
				if res.Status == kmipvectors.Pass {
					t.Errorf("%s passes: remove it from the known failures", tc.Name)
				}
				t.Logf("known failure (%s): %v", known[tc.Name], res)
			case res.Status != kmipvectors.Pass:
				t.Errorf("%v", res)
			default:
				ran++
			}
		})
	}
	if ran < 13 {
		t.Errorf("only %d cases passed", ran)
	}
}
