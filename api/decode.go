package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/s3kms/s3kms/kms"
)

// decodeBody reads the whole request body (already bounded by the route's
// http.MaxBytesReader) and decodes it strictly into v: exactly one JSON
// value, no unknown fields, nothing after it. An empty body is an error.
func decodeBody(r *http.Request, v any) error {
	return decode(r, v, false)
}

// decodeOptionalBody is decodeBody for routes whose body may be empty.
func decodeOptionalBody(r *http.Request, v any) error {
	return decode(r, v, true)
}

func decode(r *http.Request, v any, optional bool) error {
	buf, err := io.ReadAll(r.Body)
	// The body may hold plaintext (encrypt) or a sealed data key: wipe the
	// copy once decoded.
	defer clear(buf)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &inputError{err: kms.Errorf(kms.ETooLarge, "request body is larger than %d bytes", mbe.Limit)}
		}
		return invalid("cannot read the request body")
	}
	if len(bytes.TrimSpace(buf)) == 0 {
		if optional {
			return nil
		}
		return invalid("request body is empty; a JSON object is expected")
	}
	dec := json.NewDecoder(bytes.NewReader(buf))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid("request body is not valid: %s", describeJSONError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("request body has data after the JSON object")
	}
	return nil
}

// describeJSONError turns a decoding error into a message naming the
// problem and, where known, the field, without echoing field values.
func describeJSONError(err error) string {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		b64 base64.CorruptInputError
	)
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("field %q must be %s, not %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
		}
		return fmt.Sprintf("a JSON %s is expected, not %s", jsonKind(typ.Type.Kind().String()), typ.Value)
	case errors.As(err, &b64):
		return fmt.Sprintf("invalid base64 data at input byte %d", int64(b64))
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return "truncated JSON"
	}
	// Unknown fields: "json: unknown field \"x\"" names only the field.
	if msg := err.Error(); len(msg) < 200 {
		return msg
	}
	return "malformed JSON"
}

func jsonKind(goKind string) string {
	switch goKind {
	case "struct", "map":
		return "an object"
	case "slice":
		return "an array or base64 string"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int64", "int32", "uint32", "uint64":
		return "an integer"
	}
	return "a " + goKind
}

// keyIDParam returns the key id of the {id} path segment, unescaped (key
// ids contain "/", sent as "%2F") and checked.
func keyIDParam(r *http.Request) (string, error) {
	raw := chi.URLParam(r, "id")
	id, err := url.PathUnescape(raw)
	if err != nil || !kms.ValidKeyID(id) {
		return "", &inputError{err: kms.Errorf(kms.EInvalid, "invalid key id in path")}
	}
	return id, nil
}

// auditKeyID returns the key id of the request path for audit records of
// refused requests, or "" when there is none or it is not a valid id.
func auditKeyID(r *http.Request) string {
	id, err := keyIDParam(r)
	if err != nil {
		return ""
	}
	return id
}

// checkKeyID validates a key id from a request body.
func checkKeyID(id string) error {
	if id == "" {
		return invalid("key_id is required")
	}
	if !kms.ValidKeyID(id) {
		return invalid("invalid key id")
	}
	return nil
}

// queryInt parses the integer query parameter name, def when absent.
func queryInt(q url.Values, name string, def, limit int64) (int64, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > limit {
		return 0, invalid("query parameter %s must be an integer between 0 and %d", name, limit)
	}
	return n, nil
}
