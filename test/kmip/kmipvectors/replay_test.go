package kmipvectors

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// scripted serves a test case's own responses, placeholders filled in
// consistently: a server that behaves exactly as the case expects. With
// breakAt >= 0 it answers that pair with the result status Operation
// Failed instead.
func scripted(t *testing.T, tc *Case, breakAt int) *Conn {
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close(); server.Close() })
	go func() {
		vars := map[string]string{}
		n := 0
		sub := func(name, typ string) (string, bool) {
			if d, ok := nowOffset(name); ok {
				return time.Now().Add(d).UTC().Format(time.RFC3339), true
			}
			if v, ok := vars[name]; ok {
				return v, true
			}
			n++
			v := fmt.Sprintf("uid-%d", n)
			if typ == "ByteString" {
				v = fmt.Sprintf("%02x", n)
			}
			vars[name] = v
			return v, true
		}
		for i, p := range tc.Pairs {
			if _, err := ReadMessage(server); err != nil {
				return
			}
			resp := p.Response
			if i == breakAt {
				resp = withStatus(resp, "OperationFailed")
			}
			msg, err := Encode(resp, sub)
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := server.Write(msg); err != nil {
				return
			}
		}
	}()
	return NewConn(client)
}

func withStatus(n *Node, status string) *Node {
	c := *n
	c.Children = nil
	for _, ch := range n.Children {
		if ch.Tag == "ResultStatus" {
			ch = &Node{Tag: ch.Tag, Type: ch.Type, Value: status}
		} else {
			ch = withStatus(ch, status)
		}
		c.Children = append(c.Children, ch)
	}
	return &c
}

func allOps(cases []*Case) map[string]bool {
	ops := map[string]bool{}
	for _, c := range cases {
		for _, op := range c.Operations() {
			ops[op] = true
		}
	}
	return ops
}

// TestReplayScripted replays every case against a server that answers as the
// case expects (all pass), one that fails the last pair (fail), and one that
// does not support Destroy (blocked, or pass if the case has no Destroy).
func TestReplayScripted(t *testing.T) {
	cases, err := LoadDir(filepath.Join("testdata", "v1.4"))
	if err != nil {
		t.Fatal(err)
	}
	all := allOps(cases)
	noDestroy := allOps(cases)
	delete(noDestroy, "Destroy")
	for _, tc := range cases {
		if res := Replay(scripted(t, tc, -1), tc, all); res.Status != Pass || res.Replayed != len(tc.Pairs) {
			t.Errorf("perfect server: %v", res)
		}
		last := len(tc.Pairs) - 1
		if res := Replay(scripted(t, tc, last), tc, all); res.Status != Fail || !strings.Contains(res.Detail, "result OperationFailed, want") {
			t.Errorf("failing server: %v", res)
		}
		res := Replay(scripted(t, tc, -1), tc, noDestroy)
		hasDestroy := strings.Contains(strings.Join(tc.Operations(), " "), "Destroy")
		if hasDestroy && (res.Status != Blocked || res.Unsupported[0] != "Destroy") || !hasDestroy && res.Status != Pass {
			t.Errorf("server without Destroy: %v", res)
		}
	}
}

func TestQueryOperations(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	go func() {
		defer server.Close()
		if _, err := ReadMessage(server); err != nil {
			return
		}
		resp := &Node{Tag: "ResponseMessage", Children: []*Node{
			{Tag: "ResponseHeader", Children: []*Node{
				{Tag: "ProtocolVersion", Children: []*Node{
					{Tag: "ProtocolVersionMajor", Type: "Integer", Value: "1"},
					{Tag: "ProtocolVersionMinor", Type: "Integer", Value: "4"},
				}},
				{Tag: "TimeStamp", Type: "DateTime", Value: "$NOW"},
				{Tag: "BatchCount", Type: "Integer", Value: "1"},
			}},
			{Tag: "BatchItem", Children: []*Node{
				{Tag: "Operation", Type: "Enumeration", Value: "Query"},
				{Tag: "ResultStatus", Type: "Enumeration", Value: "Success"},
				{Tag: "ResponsePayload", Children: []*Node{
					{Tag: "Operation", Type: "Enumeration", Value: "Query"},
					{Tag: "Operation", Type: "Enumeration", Value: "DiscoverVersions"},
				}},
			}},
		}}
		msg, err := Encode(resp, sampleValue)
		if err != nil {
			t.Error(err)
			return
		}
		_, _ = server.Write(msg)
	}()
	ops, err := QueryOperations(NewConn(client))
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 2 || !ops["Query"] || !ops["DiscoverVersions"] {
		t.Errorf("operations %v, want Query and DiscoverVersions", ops)
	}
}

func TestReadMessageCapsLength(t *testing.T) {
	// A 1 GiB length header is refused before anything is allocated.
	hdr := []byte{0x42, 0x00, 0x7b, 0x01, 0x40, 0x00, 0x00, 0x00}
	if _, err := ReadMessage(strings.NewReader(string(hdr))); err == nil || !strings.Contains(err.Error(), "announces") {
		t.Errorf("err = %v, want a refusal of the announced length", err)
	}
}
