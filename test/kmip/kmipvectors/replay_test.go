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

// withResponseData returns a copy of tc whose responses to op carry value as
// their Data: what a server whose key bytes differ from the case's answers.
func withResponseData(tc *Case, op, value string) *Case {
	var edit func(n *Node, inOp bool) *Node
	edit = func(n *Node, inOp bool) *Node {
		c := *n
		if n.Tag == "BatchItem" {
			o := n.Child("Operation")
			inOp = o != nil && o.Value == op
		}
		if inOp && n.Tag == "Data" {
			c.Value = value
		}
		c.Children = nil
		for _, ch := range n.Children {
			c.Children = append(c.Children, edit(ch, inOp))
		}
		return &c
	}
	out := &Case{Name: tc.Name}
	for _, p := range tc.Pairs {
		out.Pairs = append(out.Pairs, Pair{Request: p.Request, Response: edit(p.Response, false)})
	}
	return out
}

// TestReplayDataOfCreatedKeys: the Data an Encrypt or Decrypt returns is the
// server's choice when the case created the key (the server chose its bytes),
// and must match exactly when the case registered the key.
func TestReplayDataOfCreatedKeys(t *testing.T) {
	tests := []struct {
		file, op string
		want     Status
	}{
		{"CS-BC-M-1-14", "Encrypt", Pass}, // Create, then Encrypt
		{"CS-BC-M-2-14", "Decrypt", Pass}, // Create, then Decrypt
		{"CS-BC-M-4-14", "Encrypt", Fail}, // Register, then Encrypt
		{"CS-BC-M-5-14", "Decrypt", Fail}, // Register, then Decrypt
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			tc, err := LoadFile(filepath.Join("testdata", "v1.4", tt.file+".xml"))
			if err != nil {
				t.Fatal(err)
			}
			other := withResponseData(tc, tt.op, "00112233445566778899aabbccddeeff")
			res := Replay(scripted(t, other, -1), tc, allOps([]*Case{tc}))
			if res.Status != tt.want {
				t.Errorf("server with other %s Data: %v, want %s", tt.op, res, tt.want)
			}
			if tt.want == Fail && !strings.Contains(res.Detail, tt.op+"/ResponsePayload/Data") {
				t.Errorf("detail %q does not name the Data", res.Detail)
			}
		})
	}
}

// TestGetsGenerated: which batch items use a key the server made.
func TestGetsGenerated(t *testing.T) {
	item := func(op, uid string) *Node {
		p := &Node{Tag: "RequestPayload"}
		if uid != "" {
			p.Children = append(p.Children, &Node{Tag: "UniqueIdentifier", Type: "TextString", Value: uid})
		}
		return &Node{Tag: "BatchItem", Children: []*Node{{Tag: "Operation", Type: "Enumeration", Value: op}, p}}
	}
	r := &replay{generated: map[string]bool{"$UNIQUE_IDENTIFIER_0": true}}
	tests := []struct {
		name  string
		items []*Node
		want  bool
	}{
		{"created placeholder", []*Node{item("Encrypt", "$UNIQUE_IDENTIFIER_0")}, true},
		{"registered placeholder", []*Node{item("Encrypt", "$UNIQUE_IDENTIFIER_1")}, false},
		{"literal identifier", []*Node{item("Encrypt", "1234")}, false},
		{"ID Placeholder after Create", []*Node{item("Create", ""), item("Activate", ""), item("Encrypt", "")}, true},
		{"ID Placeholder after Register", []*Node{item("Register", ""), item("Activate", ""), item("Encrypt", "")}, false},
		{"ID Placeholder after Register then Create", []*Node{item("Register", ""), item("Create", ""), item("Encrypt", "")}, true},
	}
	for _, tt := range tests {
		if got := r.getsGenerated(tt.items, len(tt.items)-1); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestGeneratorIsServersChoice checks that the Random Number Generator
// of a key the server generated is the server's choice (as its key
// bytes are), while that of a registered key is compared.
func TestGeneratorIsServersChoice(t *testing.T) {
	kase := func(makeOp, alg string) *Case {
		t.Helper()
		pair := func(op, req, payload string) string {
			hdr := `<ProtocolVersion><ProtocolVersionMajor type="Integer" value="1"/><ProtocolVersionMinor type="Integer" value="4"/></ProtocolVersion>`
			return `<RequestMessage><RequestHeader>` + hdr + `<BatchCount type="Integer" value="1"/></RequestHeader>
<BatchItem><Operation type="Enumeration" value="` + op + `"/><RequestPayload>` + req + `</RequestPayload></BatchItem></RequestMessage>
<ResponseMessage><ResponseHeader>` + hdr + `<TimeStamp type="DateTime" value="$NOW"/><BatchCount type="Integer" value="1"/></ResponseHeader>
<BatchItem><Operation type="Enumeration" value="` + op + `"/><ResultStatus type="Enumeration" value="Success"/><ResponsePayload>` + payload + `</ResponsePayload></BatchItem></ResponseMessage>`
		}
		uid := `<UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/>`
		tc, err := Parse([]byte(`<KMIP>` + pair(makeOp, "", uid) + pair("GetAttributes", uid, uid+`<Attribute>
<AttributeName type="TextString" value="Random Number Generator"/>
<AttributeValue><RNGAlgorithm type="Enumeration" value="`+alg+`"/></AttributeValue></Attribute>`) + `</KMIP>`))
		if err != nil {
			t.Fatal(err)
		}
		return tc
	}
	ops := map[string]bool{"Create": true, "Register": true, "GetAttributes": true}
	for _, tc := range []struct {
		op   string
		want Status
	}{{"Create", Pass}, {"Register", Fail}} {
		res := Replay(scripted(t, kase(tc.op, "Unspecified"), -1), kase(tc.op, "ANSIX9_31"), ops)
		if res.Status != tc.want {
			t.Errorf("%s: %v, want %s", tc.op, res, tc.want)
		}
	}
}
