package sigv4

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// credential is the parsed Credential / X-Amz-Credential value:
// AKID/yyyymmdd/region/service/aws4_request.
type credential struct {
	AccessKeyID string
	Date        string
	Region      string
	Service     string
}

func (c credential) scope() string {
	return c.Date + "/" + c.Region + "/" + c.Service + "/" + terminator
}

// authFields is what either form of SigV4 carries.
type authFields struct {
	Credential    credential
	SignedHeaders []string
	Signature     string
}

// errCredential describes a credential problem; the caller wraps it for the
// header or the query form.
type errCredential struct{ detail string }

// parseCredential splits a credential. The access key id may itself contain
// '/', so the fixed four trailing parts are taken from the right.
func parseCredential(s string) (credential, *errCredential) {
	parts := strings.Split(s, "/")
	if len(parts) < 5 {
		return credential{}, &errCredential{`the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`}
	}
	n := len(parts)
	c := credential{
		AccessKeyID: strings.Join(parts[:n-4], "/"),
		Date:        parts[n-4],
		Region:      parts[n-3],
		Service:     parts[n-2],
	}
	if c.AccessKeyID == "" || c.Region == "" {
		return credential{}, &errCredential{`the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`}
	}
	if _, err := time.Parse(yyyymmdd, c.Date); err != nil || len(c.Date) != 8 {
		return credential{}, &errCredential{`incorrect date format "` + c.Date + `". This date in the credential must be in the format "yyyyMMdd".`}
	}
	if c.Service != service {
		return credential{}, &errCredential{`incorrect service "` + c.Service + `". This endpoint belongs to "s3".`}
	}
	if t := parts[n-1]; t != terminator {
		return credential{}, &errCredential{`incorrect terminal "` + t + `". This endpoint uses "aws4_request".`}
	}
	return c, nil
}

// parseSignedHeaders checks a SignedHeaders list: lower-case names separated
// by ';', sorted and without duplicates, as every SigV4 signer produces.
func parseSignedHeaders(s string) ([]string, bool) {
	if s == "" {
		return nil, false
	}
	h := strings.Split(s, ";")
	for i, n := range h {
		if n == "" || n != strings.ToLower(n) || strings.ContainsAny(n, " \t:,") {
			return nil, false
		}
		if i > 0 && h[i-1] >= n {
			return nil, false
		}
	}
	return h, true
}

// parseAuthorization parses an Authorization header of the form
//
//	AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=<64 hex>
//
// The separator between components is ',' with optional spaces; the three
// components must each appear exactly once.
func parseAuthorization(h string) (authFields, *Error) {
	alg, rest, ok := strings.Cut(strings.TrimLeft(h, " "), " ")
	if alg != algorithm {
		if strings.HasPrefix(h, "AWS ") || strings.HasPrefix(h, "AWS4-ECDSA-P256-SHA256") {
			return authFields{}, newErr("InvalidRequest", http.StatusBadRequest, msgUnsupportedMechanism)
		}
		return authFields{}, errInvalidArgument("Unsupported Authorization Type")
	}
	if !ok {
		return authFields{}, errHeaderMalformed("the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".")
	}
	var f authFields
	var seenC, seenH, seenS bool
	for _, part := range strings.Split(rest, ",") {
		part = strings.TrimSpace(part)
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return authFields{}, errHeaderMalformed("the authorization component \"" + part + "\" is malformed.")
		}
		switch k {
		case "Credential":
			if seenC {
				return authFields{}, errHeaderMalformed("the authorization header has a duplicate Credential component.")
			}
			seenC = true
			c, ce := parseCredential(v)
			if ce != nil {
				return authFields{}, errHeaderMalformed(ce.detail)
			}
			f.Credential = c
		case "SignedHeaders":
			if seenH {
				return authFields{}, errHeaderMalformed("the authorization header has a duplicate SignedHeaders component.")
			}
			seenH = true
			sh, ok := parseSignedHeaders(v)
			if !ok {
				return authFields{}, errHeaderMalformed("the SignedHeaders component is malformed.")
			}
			f.SignedHeaders = sh
		case "Signature":
			if seenS {
				return authFields{}, errHeaderMalformed("the authorization header has a duplicate Signature component.")
			}
			seenS = true
			if !isHex64(v) {
				return authFields{}, errHeaderMalformed("the Signature component is malformed.")
			}
			f.Signature = v
		default:
			return authFields{}, errHeaderMalformed("the authorization component \"" + part + "\" is malformed.")
		}
	}
	switch {
	case !seenC:
		return authFields{}, errHeaderMalformed("the authorization header requires a Credential component.")
	case !seenH:
		return authFields{}, errHeaderMalformed("the authorization header requires a SignedHeaders component.")
	case !seenS:
		return authFields{}, errHeaderMalformed("the authorization header requires a Signature component.")
	}
	return f, nil
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func isLowerHex64(s string) bool {
	return isHex64(s) && strings.ToLower(s) == s
}

// presignedFields is the parsed query form.
type presignedFields struct {
	authFields
	Date    time.Time
	Expires time.Duration
}

// queryValue returns the single value of a query parameter; duplicates are
// refused so that the signed and the used value cannot differ.
func queryValue(q []queryPair, name string) (string, bool, bool) {
	var v string
	found := false
	for _, p := range q {
		if p.k == name {
			if found {
				return "", true, false
			}
			v, found = p.v, true
		}
	}
	return v, found, true
}

// parsePresigned parses the X-Amz-* query parameters of a presigned URL.
func parsePresigned(q []queryPair) (presignedFields, *Error) {
	get := func(name string) (string, *Error) {
		v, found, single := queryValue(q, name)
		if !single {
			return "", errQuery("Duplicate " + name + " parameter.")
		}
		if !found {
			return "", errQuery(msgQueryRequiredParameters)
		}
		return v, nil
	}
	var f presignedFields
	alg, e := get("X-Amz-Algorithm")
	if e != nil {
		return f, e
	}
	if alg != algorithm {
		return f, errQuery(`X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"`)
	}
	cred, e := get("X-Amz-Credential")
	if e != nil {
		return f, e
	}
	date, e := get("X-Amz-Date")
	if e != nil {
		return f, e
	}
	exp, e := get("X-Amz-Expires")
	if e != nil {
		return f, e
	}
	sh, e := get("X-Amz-SignedHeaders")
	if e != nil {
		return f, e
	}
	sig, e := get("X-Amz-Signature")
	if e != nil {
		return f, e
	}
	c, ce := parseCredential(cred)
	if ce != nil {
		return f, errQuery("Error parsing the X-Amz-Credential parameter; " + ce.detail)
	}
	f.Credential = c
	t, err := time.Parse(iso8601Basic, date)
	if err != nil || len(date) != len(iso8601Basic) {
		return f, errQuery(`X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`)
	}
	f.Date = t
	secs, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return f, errQuery("X-Amz-Expires should be a number")
	}
	if secs < 0 {
		return f, errQuery("X-Amz-Expires must be non-negative")
	}
	if secs > int64(maxPresignedTTL/time.Second) {
		return f, errQuery("X-Amz-Expires must be less than a week (in seconds) that is 604800")
	}
	f.Expires = time.Duration(secs) * time.Second
	h, ok := parseSignedHeaders(sh)
	if !ok {
		return f, errQuery("X-Amz-SignedHeaders is malformed.")
	}
	f.SignedHeaders = h
	if !isHex64(sig) {
		return f, errSignature()
	}
	f.Signature = sig
	return f, nil
}
