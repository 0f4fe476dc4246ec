package kmipvectors

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gemalto/kmip-go/ttlv"
)

// Status is the outcome of replaying one test case.
type Status string

// The outcomes of a replay.
const (
	Pass    Status = "pass"
	Fail    Status = "fail"
	Blocked Status = "blocked" // uses an operation the server does not claim
)

// Result is the outcome of replaying one test case.
type Result struct {
	Case        string
	Status      Status
	Replayed    int      // pairs sent
	Unsupported []string // operations of the case the server does not claim
	Detail      string   // the first mismatch, or why the case is blocked
}

func (r Result) String() string {
	s := fmt.Sprintf("%-18s %-7s %d pairs replayed", r.Case, r.Status, r.Replayed)
	if r.Detail != "" {
		s += ": " + r.Detail
	}
	return s
}

// statusOnly lists the operations whose response payload is the server's to
// choose (its versions, its capabilities, random bytes): only their result
// status is compared.
var statusOnly = map[string]bool{"DiscoverVersions": true, "Query": true, "RNGRetrieve": true}

// unordered lists the operations whose response payload items may come in
// any order (attributes, located identifiers); extra allows items the case
// does not list (GetAttributeList names every attribute the server keeps).
var (
	unordered = map[string]bool{"GetAttributes": true, "GetAttributeList": true, "Locate": true}
	extra     = map[string]bool{"GetAttributeList": true}
)

// Replay runs the case on c: it sends the pairs up to the first one that uses
// an operation outside supported, and compares each response. A mismatch in
// a pair that was sent makes the result Fail; otherwise a case that uses an
// operation outside supported is Blocked.
func Replay(c *Conn, tc *Case, supported map[string]bool) Result {
	res := Result{Case: tc.Name, Status: Pass}
	for _, op := range tc.Operations() {
		if !supported[op] {
			res.Unsupported = append(res.Unsupported, op)
		}
	}
	r := &replay{vars: map[string]string{}, generated: map[string]bool{}}
	for i, p := range tc.Pairs {
		for _, op := range p.Operations() {
			if !supported[op] {
				res.Status = Blocked
				res.Detail = fmt.Sprintf("pair %d uses %s; not supported: %s", i, op, strings.Join(res.Unsupported, ", "))
				return res
			}
		}
		req, err := Encode(p.Request, r.substitute)
		if err != nil {
			return fail(res, i, err)
		}
		resp, err := c.RoundTrip(req)
		res.Replayed++
		if err != nil {
			return fail(res, i, err)
		}
		if err := r.checkResponse(p, resp); err != nil {
			return fail(res, i, err)
		}
	}
	return res
}

func fail(res Result, pair int, err error) Result {
	res.Status = Fail
	res.Detail = fmt.Sprintf("pair %d: %v", pair, err)
	return res
}

type replay struct {
	vars      map[string]string // placeholder → value in XML form
	generated map[string]bool   // identifier placeholders of server-made keys
}

func (r *replay) substitute(name, typ string) (string, bool) {
	if d, ok := nowOffset(name); ok {
		return time.Now().Add(d).UTC().Format(time.RFC3339), typ == "DateTime"
	}
	v, ok := r.vars[name]
	return v, ok
}

// nowOffset parses $NOW, $NOW-3600, $NOW+60 (seconds).
func nowOffset(name string) (time.Duration, bool) {
	rest, ok := strings.CutPrefix(name, "$NOW")
	if !ok {
		return 0, false
	}
	if rest == "" {
		return 0, true
	}
	n, err := strconv.Atoi(rest)
	if err != nil {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

// checkResponse compares the response header's version and batch count and
// each batch item's operation, batch item ID, result status and reason, then
// the payload as the operation allows (result messages are free text).
func (r *replay) checkResponse(p Pair, resp ttlv.TTLV) error {
	if tagName(resp.Tag()) != "ResponseMessage" {
		return fmt.Errorf("got %s, want ResponseMessage", tagName(resp.Tag()))
	}
	// Encode the expected message with placeholders as sample values; the
	// Node tree says where the placeholders are.
	want, err := Encode(p.Response, sampleValue)
	if err != nil {
		return err
	}
	wantHdr, gotHdr := find(want.ValueStructure(), "ResponseHeader"), find(resp.ValueStructure(), "ResponseHeader")
	if gotHdr == nil {
		return fmt.Errorf("no ResponseHeader in %s", resp)
	}
	hdr := p.Response.Child("ResponseHeader")
	for _, tag := range []string{"ProtocolVersion", "BatchCount"} {
		if err := r.compare(hdr.Child(tag), find(wantHdr.ValueStructure(), tag), find(gotHdr.ValueStructure(), tag), "ResponseHeader/"+tag); err != nil {
			return err
		}
	}
	wantItems, gotItems := items(want), items(resp)
	if len(gotItems) != len(wantItems) {
		return fmt.Errorf("%d batch items, want %d", len(gotItems), len(wantItems))
	}
	reqItems := p.Request.All("BatchItem")
	for i, node := range p.Response.All("BatchItem") {
		op := ""
		if o := node.Child("Operation"); o != nil {
			op = o.Value
		} else if i < len(reqItems) && reqItems[i].Child("Operation") != nil {
			op = reqItems[i].Child("Operation").Value
		}
		path := fmt.Sprintf("BatchItem[%d] %s", i, op)
		if st := node.Child("ResultStatus"); st != nil {
			if got := find(gotItems[i].ValueStructure(), "ResultStatus"); got != nil && xmlValue(got) != st.Value {
				detail := ""
				for _, tag := range []string{"ResultReason", "ResultMessage"} {
					if v := find(gotItems[i].ValueStructure(), tag); v != nil {
						detail += " " + xmlValue(v)
					}
				}
				return fmt.Errorf("%s: result %s%s, want %s", path, xmlValue(got), detail, st.Value)
			}
		}
		for _, c := range node.Children {
			if c.Tag == "ResultMessage" || c.Tag == "ResponsePayload" {
				continue
			}
			if err := r.compare(c, find(wantItems[i].ValueStructure(), c.Tag), find(gotItems[i].ValueStructure(), c.Tag), path+"/"+c.Tag); err != nil {
				return err
			}
		}
		if st := node.Child("ResultStatus"); st == nil || st.Value != "Success" || statusOnly[op] {
			continue
		}
		pn := node.Child("ResponsePayload")
		if pn == nil {
			continue
		}
		if op == "Create" || op == "ReKey" {
			if uid := pn.Child("UniqueIdentifier"); uid != nil {
				if name, ok := uid.Placeholder(); ok {
					r.generated[name] = true
				}
			}
		}
		free := map[string]bool{}
		if r.getsGenerated(reqItems, i) {
			// Key bytes of a key the server made are the server's
			// choice, and so is their Digest, and so is what the key
			// makes of the case's data (cipher text, plain text, MAC).
			free["KeyMaterial"], free["Key"], free["DigestValue"] = true, true, true
			if keyOutput[op] {
				free["Data"], free["MACData"] = true, true
			}
			// So is the generator that made them (its RNG Parameters).
			free[freeAttribute("Random Number Generator")], free["RandomNumberGenerator"] = true, true
		}
		gotP := find(gotItems[i].ValueStructure(), "ResponsePayload")
		wantP := find(wantItems[i].ValueStructure(), "ResponsePayload")
		if gotP == nil {
			return fmt.Errorf("%s: no ResponsePayload", path)
		}
		if unordered[op] {
			err = r.compareUnordered(pn, wantP, gotP, path+"/ResponsePayload", extra[op], free)
		} else {
			err = r.compareFree(pn, wantP, gotP, path+"/ResponsePayload", free)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// keyOutput lists the operations whose response Data (or MAC Data) is
// computed with the key: free when the server made the key.
var keyOutput = map[string]bool{"Encrypt": true, "Decrypt": true, "MAC": true}

// getsGenerated reports whether batch item i of the request uses a key the
// server made (Create, ReKey): by a placeholder bound by such a response, or
// through the ID Placeholder, which the nearest earlier item of the batch
// that makes or finds an object sets (a Register sets it to a key whose
// bytes the case chose).
func (r *replay) getsGenerated(reqItems []*Node, i int) bool {
	if i >= len(reqItems) {
		return false
	}
	p := reqItems[i].Child("RequestPayload")
	if p == nil || p.Child("UniqueIdentifier") == nil {
		for j := i - 1; j >= 0; j-- {
			if o := reqItems[j].Child("Operation"); o != nil && setsIDPlaceholder[o.Value] {
				return o.Value != "Register"
			}
		}
		return true // as before this batch: an earlier request's key, unknown here
	}
	name, ok := p.Child("UniqueIdentifier").Placeholder()
	return ok && r.generated[name]
}

// setsIDPlaceholder lists the operations that set a batch's ID Placeholder.
var setsIDPlaceholder = map[string]bool{
	"Create": true, "CreateKeyPair": true, "Register": true, "ReKey": true,
	"ReKeyKeyPair": true, "DeriveKey": true, "Certify": true, "ReCertify": true,
	"Locate": true,
}

func items(msg ttlv.TTLV) []ttlv.TTLV {
	var out []ttlv.TTLV
	for c := msg.ValueStructure(); c != nil; c = c.Next() {
		if tagName(c.Tag()) == "BatchItem" {
			out = append(out, c)
		}
	}
	return out
}

func (r *replay) compare(node *Node, want, got ttlv.TTLV, path string) error {
	return r.compareFree(node, want, got, path, nil)
}

// compareFree compares got with the expected item (node, and want: node
// encoded with sample values), binding placeholders; items whose tag is in
// free only need to be present.
func (r *replay) compareFree(node *Node, want, got ttlv.TTLV, path string, free map[string]bool) error {
	if got == nil {
		return fmt.Errorf("%s: missing", path)
	}
	if got.Tag() != want.Tag() {
		return fmt.Errorf("%s: got tag %s", path, tagName(got.Tag()))
	}
	if got.Type() != want.Type() {
		return fmt.Errorf("%s: got type %s, want %s", path, got.Type(), want.Type())
	}
	if free[node.Tag] {
		return nil
	}
	if name := node.Child("AttributeName"); node.Tag == "Attribute" && name != nil && free[freeAttribute(name.Value)] {
		// A 1.x Attribute whose value is free: its name must match,
		// its value be present.
		if n := find(got.ValueStructure(), "AttributeName"); n == nil || xmlValue(n) != name.Value {
			return fmt.Errorf("%s: not attribute %s", path, name.Value)
		}
		if find(got.ValueStructure(), "AttributeValue") == nil {
			return fmt.Errorf("%s: %s has no value", path, name.Value)
		}
		return nil
	}
	if node.Type == "" {
		g := got.ValueStructure()
		w := want.ValueStructure()
		for i, c := range node.Children {
			if err := r.compareFree(c, w, g, fmt.Sprintf("%s/%s[%d]", path, c.Tag, i), free); err != nil {
				return err
			}
			w, g = w.Next(), g.Next()
		}
		if g != nil {
			return fmt.Errorf("%s: unexpected %s %s", path, tagName(g.Tag()), g)
		}
		return nil
	}
	if name, ok := node.Placeholder(); ok {
		if _, ok := nowOffset(name); ok {
			return nil // a time the server chose
		}
		v := xmlValue(got)
		if bound, ok := r.vars[name]; ok && bound != v {
			return fmt.Errorf("%s: got %q, want %s = %q", path, v, name, bound)
		}
		r.vars[name] = v
		return nil
	}
	if !bytes.Equal(got[:got.FullLen()], want[:want.FullLen()]) {
		return fmt.Errorf("%s: got %s, want %s", path, xmlValue(got), node.Value)
	}
	return nil
}

// compareUnordered matches each expected child of a structure with some
// child of got, in any order; items whose tag is in free only need to be
// present.
func (r *replay) compareUnordered(node *Node, want, got ttlv.TTLV, path string, allowExtra bool, free map[string]bool) error {
	var gs []ttlv.TTLV
	for g := got.ValueStructure(); g != nil; g = g.Next() {
		gs = append(gs, g)
	}
	used := make([]bool, len(gs))
	w := want.ValueStructure()
	for i, c := range node.Children {
		found := false
		var firstErr error
		for j, g := range gs {
			if used[j] {
				continue
			}
			try := &replay{vars: cloneMap(r.vars), generated: r.generated}
			err := try.compareFree(c, w, g, fmt.Sprintf("%s/%s[%d]", path, c.Tag, i), free)
			if err == nil {
				used[j], found, r.vars = true, true, try.vars
				break
			}
			if firstErr == nil {
				firstErr = err
			}
		}
		if !found {
			if firstErr == nil {
				firstErr = fmt.Errorf("%s/%s[%d]: missing", path, c.Tag, i)
			}
			return fmt.Errorf("no match for %s %s (first candidate: %v)", c.Tag, c.Value, firstErr)
		}
		w = w.Next()
	}
	if !allowExtra {
		for j, g := range gs {
			if !used[j] {
				return fmt.Errorf("%s: unexpected %s %s", path, tagName(g.Tag()), g)
			}
		}
	}
	return nil
}

func cloneMap(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// xmlValue is an item's value as the XML form spells it, for substituting
// into later requests.
func xmlValue(t ttlv.TTLV) string {
	switch t.Type() {
	case ttlv.TypeTextString:
		return t.ValueTextString()
	case ttlv.TypeByteString:
		return hex.EncodeToString(t.ValueByteString())
	case ttlv.TypeDateTime:
		return t.ValueDateTime().UTC().Format(time.RFC3339)
	case ttlv.TypeEnumeration:
		return enumName(t)
	}
	return fmt.Sprint(t.Value())
}

// freeAttribute is the key of free for the value of the 1.x attribute
// name.
func freeAttribute(name string) string { return "Attribute " + name }
