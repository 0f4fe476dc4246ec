package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"io"
	"os"
	"testing"
	"time"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"
)

// TestDevKMIP checks that `s3kms dev` serves KMIP at S3KMS_KMIP_ADDR and
// that the admin client certificate of dev.env is a KMIP client
// certificate: Discover Versions at 1.2 is answered at 1.2.
func TestDevKMIP(t *testing.T) {
	env := startDev(t, t.TempDir())
	addr := env["S3KMS_KMIP_ADDR"]
	if addr == "" {
		t.Fatalf("dev.env lacks S3KMS_KMIP_ADDR: %v", env)
	}
	cert, err := tls.LoadX509KeyPair(env["S3KMS_CLIENT_CERT"], env["S3KMS_CLIENT_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(env["S3KMS_CA_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))

	var buf bytes.Buffer
	e := ttlv.NewEncoder(&buf)
	pv := func(e *ttlv.Encoder) error {
		e.EncodeInteger(kmip14.TagProtocolVersionMajor, 1)
		e.EncodeInteger(kmip14.TagProtocolVersionMinor, 2)
		return nil
	}
	err = e.EncodeStructure(kmip14.TagRequestMessage, func(e *ttlv.Encoder) error {
		_ = e.EncodeStructure(kmip14.TagRequestHeader, func(e *ttlv.Encoder) error {
			_ = e.EncodeStructure(kmip14.TagProtocolVersion, pv)
			e.EncodeInteger(kmip14.TagBatchCount, 1)
			return nil
		})
		return e.EncodeStructure(kmip14.TagBatchItem, func(e *ttlv.Encoder) error {
			e.EncodeEnumeration(kmip14.TagOperation, uint32(kmip14.OperationDiscoverVersions))
			return e.EncodeStructure(kmip14.TagRequestPayload, func(*ttlv.Encoder) error { return nil })
		})
	})
	if err == nil {
		err = e.Flush()
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	hdr := make([]byte, 8)
	if _, err := io.ReadFull(c, hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, binary.BigEndian.Uint32(hdr[4:]))
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatal(err)
	}
	var resp struct {
		ResponseHeader struct {
			ProtocolVersion struct{ ProtocolVersionMajor, ProtocolVersionMinor int32 }
		}
		BatchItem struct{ ResultStatus kmip14.ResultStatus }
	}
	if err := ttlv.Unmarshal(append(hdr, body...), &resp); err != nil {
		t.Fatal(err)
	}
	if v := resp.ResponseHeader.ProtocolVersion; v.ProtocolVersionMajor != 1 || v.ProtocolVersionMinor != 2 {
		t.Errorf("response version %d.%d", v.ProtocolVersionMajor, v.ProtocolVersionMinor)
	}
	if resp.BatchItem.ResultStatus != kmip14.ResultStatusSuccess {
		t.Errorf("result status %v", resp.BatchItem.ResultStatus)
	}
}
