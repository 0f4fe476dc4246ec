package sigv4

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// maxPolicySize bounds the base64 policy document (AWS limits the whole
// form, without the file, to 20 KB).
const maxPolicySize = 64 << 10

// Condition is one policy condition, normalised: Field is the lower-case form
// field name without '$'.
type Condition struct {
	Op    string // "eq", "starts-with" or "content-length-range"
	Field string
	Value string
	Min   int64 // content-length-range only
	Max   int64
}

// PostResult is a verified POST policy.
type PostResult struct {
	AccessKeyID string
	Region      string
	SigningTime time.Time
	Expiration  time.Time
	Conditions  []Condition
}

// VerifyPostPolicy authenticates a browser-form POST upload. fields holds
// the form fields that precede the file (names in any case). It checks the
// x-amz-algorithm, x-amz-credential, x-amz-date and x-amz-signature fields,
// the signature (the hex HMAC-SHA256, under the SigV4 signing key, of the
// base64 policy field), then decodes the policy and checks its expiration
// against opts.Now. It does not check the conditions: call CheckFields with
// the form fields (plus "bucket") and CheckContentLength with the file size.
// It returns ErrNoAuth when the form has no policy and no signature.
func VerifyPostPolicy(ctx context.Context, fields map[string]string, lookup Credentials, opts Options) (*PostResult, error) {
	f, dup := lowerKeys(fields)
	if dup != "" {
		return nil, errInvalidArgument("POST requires exactly one " + dup + " field per request.")
	}
	policy, hasPolicy := f["policy"]
	sig, hasSig := f["x-amz-signature"]
	if !hasPolicy && !hasSig {
		if _, v2 := f["awsaccesskeyid"]; v2 {
			return nil, newErr("InvalidRequest", http.StatusBadRequest, msgUnsupportedMechanism)
		}
		return nil, ErrNoAuth
	}
	for _, name := range []string{"policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature"} {
		if _, ok := f[name]; !ok {
			return nil, errInvalidArgument("Bucket POST must contain a field named '" + name + "'.  If it is specified, please check the order of the fields.")
		}
	}
	if f["x-amz-algorithm"] != algorithm {
		if _, v2 := f["awsaccesskeyid"]; v2 {
			return nil, newErr("InvalidRequest", http.StatusBadRequest, msgUnsupportedMechanism)
		}
		return nil, errInvalidArgument(`X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"`)
	}
	if _, ok := f["x-amz-security-token"]; ok {
		return nil, newErr("InvalidToken", http.StatusBadRequest, "The provided token is malformed or otherwise invalid.")
	}
	cred, ce := parseCredential(f["x-amz-credential"])
	if ce != nil {
		return nil, errInvalidArgument("Error parsing the X-Amz-Credential parameter; " + ce.detail)
	}
	date := f["x-amz-date"]
	t, err := time.Parse(iso8601Basic, date)
	if err != nil || len(date) != len(iso8601Basic) {
		return nil, errInvalidArgument(`X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`)
	}
	if cred.Date != t.Format(yyyymmdd) {
		return nil, errInvalidArgument(`Invalid credential date "` + cred.Date + `". This date is not the same as X-Amz-Date: "` + t.Format(yyyymmdd) + `".`)
	}
	if opts.Region != "" && cred.Region != opts.Region {
		return nil, errInvalidArgument("Error parsing the X-Amz-Credential parameter; the region '"+cred.Region+"' is wrong; expecting '"+opts.Region+"'").with("Region", opts.Region)
	}
	if len(policy) > maxPolicySize {
		return nil, errInvalidArgument("Policy exceeds the maximum allowed document size.")
	}
	if !isHex64(sig) {
		return nil, errSignature()
	}

	secret, err := lookup.SecretKey(ctx, cred.AccessKeyID)
	if err != nil {
		if errors.Is(err, ErrUnknownAccessKey) {
			return nil, &Error{Code: "InvalidAccessKeyId", Message: msgInvalidAccessKeyID, Status: http.StatusForbidden,
				Extra: map[string]string{"AWSAccessKeyId": cred.AccessKeyID}}
		}
		return nil, fmt.Errorf("sigv4: credential lookup: %w", err)
	}
	key := signingKey(secret, cred.Date, cred.Region, service)
	clear(secret)
	ok := signatureMatches(hmacSHA256(key, policy), sig)
	clear(key)
	if !ok {
		return nil, errSignature()
	}

	exp, conds, perr := parsePolicy(policy)
	if perr != nil {
		return nil, perr
	}
	if !opts.now().Before(exp) {
		return nil, errAccessDenied("Invalid according to Policy: Policy expired.")
	}
	return &PostResult{AccessKeyID: cred.AccessKeyID, Region: cred.Region, SigningTime: t, Expiration: exp, Conditions: conds}, nil
}

// lowerKeys lower-cases the field names; it also returns a name that
// appears twice (in different cases), if any.
func lowerKeys(m map[string]string) (map[string]string, string) {
	out := make(map[string]string, len(m))
	dup := ""
	for k, v := range m {
		lk := strings.ToLower(k)
		if _, ok := out[lk]; ok {
			dup = lk
		}
		out[lk] = v
	}
	return out, dup
}

func errPolicy(msg string) *Error {
	return newErr("InvalidPolicyDocument", http.StatusBadRequest, "Invalid Policy: "+msg)
}

// parsePolicy decodes a base64 policy document:
//
//	{"expiration": "2007-12-01T12:00:00.000Z",
//	 "conditions": [{"bucket": "b"}, ["starts-with", "$key", "u/"],
//	                ["eq", "$acl", "private"], ["content-length-range", 1, 1048576]]}
func parsePolicy(b64 string) (time.Time, []Condition, *Error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return time.Time{}, nil, errPolicy("Invalid 'base64' encoding.")
	}
	var doc struct {
		Expiration *string           `json:"expiration"`
		Conditions []json.RawMessage `json:"conditions"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return time.Time{}, nil, errPolicy("Invalid JSON.")
	}
	if doc.Expiration == nil {
		return time.Time{}, nil, errPolicy("Policy missing expiration.")
	}
	exp, err := time.Parse(time.RFC3339Nano, *doc.Expiration)
	if err != nil {
		return time.Time{}, nil, errPolicy("Invalid 'expiration' value: '" + *doc.Expiration + "'")
	}
	if doc.Conditions == nil {
		return time.Time{}, nil, errPolicy("Policy missing conditions.")
	}
	conds := make([]Condition, 0, len(doc.Conditions))
	for _, rc := range doc.Conditions {
		c, e := parseCondition(rc)
		if e != nil {
			return time.Time{}, nil, e
		}
		conds = append(conds, c...)
	}
	return exp, conds, nil
}

func parseCondition(rc json.RawMessage) ([]Condition, *Error) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(rc, &obj) == nil && obj != nil {
		if len(obj) != 1 {
			return nil, errPolicy("Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.")
		}
		var out []Condition
		for k, v := range obj {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, errPolicy("Invalid Simple-Condition: value must be a string.")
			}
			out = append(out, Condition{Op: "eq", Field: strings.ToLower(strings.TrimPrefix(k, "$")), Value: s})
		}
		return out, nil
	}
	var arr []json.RawMessage
	if err := json.Unmarshal(rc, &arr); err != nil || len(arr) != 3 {
		return nil, errPolicy("Invalid Condition: conditions must be objects or arrays of three elements.")
	}
	var op string
	if err := json.Unmarshal(arr[0], &op); err != nil {
		return nil, errPolicy("Invalid Condition: the operation must be a string.")
	}
	switch strings.ToLower(op) {
	case "eq", "starts-with":
		var field, value string
		if json.Unmarshal(arr[1], &field) != nil || json.Unmarshal(arr[2], &value) != nil || !strings.HasPrefix(field, "$") {
			return nil, errPolicy("Invalid Condition: [" + op + "] expects a field name starting with '$' and a string value.")
		}
		return []Condition{{Op: strings.ToLower(op), Field: strings.ToLower(field[1:]), Value: value}}, nil
	case "content-length-range":
		lo, ok1 := policyInt(arr[1])
		hi, ok2 := policyInt(arr[2])
		if !ok1 || !ok2 || lo < 0 || hi < lo {
			return nil, errPolicy("Invalid Condition: content-length-range expects two non-negative integers, the first not above the second.")
		}
		return []Condition{{Op: "content-length-range", Min: lo, Max: hi}}, nil
	}
	return nil, errPolicy("Invalid Condition: unknown operation '" + op + "'.")
}

// policyInt accepts a JSON integer or a string holding one.
func policyInt(m json.RawMessage) (int64, bool) {
	var n json.Number
	if err := json.Unmarshal(m, &n); err == nil {
		v, err := strconv.ParseInt(n.String(), 10, 64)
		return v, err == nil
	}
	var s string
	if err := json.Unmarshal(m, &s); err == nil {
		v, err := strconv.ParseInt(s, 10, 64)
		return v, err == nil
	}
	return 0, false
}

// exemptField reports the form fields that need no policy condition.
func exemptField(name string) bool {
	switch name {
	case "x-amz-signature", "file", "policy":
		return true
	}
	return strings.HasPrefix(name, "x-ignore-")
}

// CheckFields checks the policy conditions against the form fields (the
// caller adds "bucket" with the bucket name; "key" is checked as sent, before
// any ${filename} substitution) and refuses fields no condition covers.
// Failures are AccessDenied errors worded as AWS's.
func (p *PostResult) CheckFields(fields map[string]string) error {
	f, dup := lowerKeys(fields)
	if dup != "" {
		return errInvalidArgument("POST requires exactly one " + dup + " field per request.")
	}
	covered := map[string]bool{}
	for _, c := range p.Conditions {
		if c.Op == "content-length-range" {
			continue
		}
		covered[c.Field] = true
		v := f[c.Field]
		ok := false
		switch c.Op {
		case "eq":
			ok = v == c.Value
		case "starts-with":
			ok = strings.HasPrefix(v, c.Value)
			if c.Field == "content-type" && strings.Contains(v, ",") {
				ok = true
				for _, part := range strings.Split(v, ",") {
					ok = ok && strings.HasPrefix(strings.TrimSpace(part), c.Value)
				}
			}
		}
		if !ok {
			return errAccessDenied(fmt.Sprintf("Invalid according to Policy: Policy Condition failed: [%q, %q, %q]", c.Op, "$"+c.Field, c.Value))
		}
	}
	var extra []string
	for name := range f {
		if !exemptField(name) && !covered[name] && name != "bucket" {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return errAccessDenied("Invalid according to Policy: Extra input fields: " + strings.Join(extra, ", "))
	}
	return nil
}

// ContentLengthRange returns the tightest content-length-range of the
// policy, if it has one, so that the upload can be read with a limit.
func (p *PostResult) ContentLengthRange() (lo, hi int64, ok bool) {
	for _, c := range p.Conditions {
		if c.Op != "content-length-range" {
			continue
		}
		if !ok || c.Min > lo {
			lo = c.Min
		}
		if !ok || c.Max < hi {
			hi = c.Max
		}
		ok = true
	}
	return lo, hi, ok
}

// CheckContentLength checks the file size n against every
// content-length-range condition (EntityTooSmall / EntityTooLarge, as AWS).
func (p *PostResult) CheckContentLength(n int64) error {
	lo, hi, ok := p.ContentLengthRange()
	if !ok {
		return nil
	}
	if n < lo {
		return newErr("EntityTooSmall", http.StatusBadRequest, "Your proposed upload is smaller than the minimum allowed size").
			with("ProposedSize", strconv.FormatInt(n, 10)).with("MinSizeAllowed", strconv.FormatInt(lo, 10))
	}
	if n > hi {
		return newErr("EntityTooLarge", http.StatusBadRequest, "Your proposed upload exceeds the maximum allowed size").
			with("ProposedSize", strconv.FormatInt(n, 10)).with("MaxSizeAllowed", strconv.FormatInt(hi, 10))
	}
	return nil
}
