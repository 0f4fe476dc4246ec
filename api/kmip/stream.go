package kmip

import (
	"context"
	"crypto/rand"
	"sync"
	"time"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"

	"github.com/s3kms/s3kms/kms"
)

// Multi-part (streaming) Encrypt, KMIP 1.3+: the first call sets Init
// Indicator and gets a Correlation Value, later calls give it, the last
// one also sets Final Indicator. Only GCM is streamed (the OASIS case
// CS-BC-M-GCM-3 does it): GCM encrypts in counter mode, so the
// ciphertext of a prefix of the data is the prefix of the ciphertext of
// all of it. The server keeps the data received so far; each call
// encrypts all of it again with the same key, IV and additional data
// (through kms.Service.EncryptData, so policy, state and audit apply to
// every part, and Usage Limits to each part's own data) and returns the
// ciphertext bytes not sent yet, the last call also the tag. A part
// undone by its Undo batch ends the stream (its ciphertext was never
// sent) and gives back its use of the Usage Limits. Streamed
// decryption is refused: GCM plaintext must not be released before its
// tag is checked.
const (
	// maxStreams bounds the streams open at once (and so the data held:
	// at most kms.MaxCipherData each); streamTTL is how long a stream
	// waits for its next part.
	maxStreams = 64
	streamTTL  = 5 * time.Minute
)

// stream is one multi-part Encrypt in progress.
type stream struct {
	identity kms.Identity
	id       string
	req      kms.CipherRequest
	data     []byte // the data received so far; wiped when the stream ends
	sent     int    // ciphertext bytes returned so far
	expires  time.Time
}

// streamTable holds the open streams by Correlation Value. The zero value
// is ready to use.
type streamTable struct {
	mu sync.Mutex
	m  map[string]*stream
}

// put stores s under cv, or under a new Correlation Value when cv is nil,
// and returns the Correlation Value.
func (t *streamTable) put(now time.Time, cv []byte, s *stream) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, o := range t.m {
		if now.After(o.expires) {
			clear(o.data)
			delete(t.m, k)
		}
	}
	if len(t.m) >= maxStreams {
		return nil, errorf(kmip14.ResultReasonGeneralFailure, "too many multi-part operations in progress; retry later")
	}
	if t.m == nil {
		t.m = map[string]*stream{}
	}
	if cv == nil {
		cv = make([]byte, 16)
		_, _ = rand.Read(cv) // crypto/rand.Read never fails
	}
	s.expires = now.Add(streamTTL)
	t.m[string(cv)] = s
	return cv, nil
}

// take removes and returns the stream of cv if it belongs to identity
// and has not expired.
func (t *streamTable) take(now time.Time, cv []byte, identity kms.Identity) (*stream, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.m[string(cv)]
	if !ok || s.identity != identity {
		return nil, false
	}
	delete(t.m, string(cv))
	if now.After(s.expires) {
		clear(s.data)
		return nil, false
	}
	return s, true
}

// drop removes and wipes the stream of cv, if any.
func (t *streamTable) drop(cv []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.m[string(cv)]; ok {
		clear(s.data)
		delete(t.m, string(cv))
	}
}

// streamFlags returns the request's Init and Final Indicators and
// Correlation Value.
func streamFlags(c call) (init, final bool, cv []byte, err error) {
	for _, f := range []struct {
		tag ttlv.Tag
		v   *bool
	}{{kmip14.TagInitIndicator, &init}, {kmip14.TagFinalIndicator, &final}} {
		if n, ok := c.payload.child(f.tag); ok {
			if *f.v, err = n.boolean(); err != nil {
				return false, false, nil, fieldError("%s is not a Boolean", f.tag)
			}
		}
	}
	cv, err = optBytes(c, kmip14.TagCorrelationValue, "the Correlation Value")
	return init, final, cv, err
}

// encryptPart answers one call of a multi-part Encrypt.
func (h *handler) encryptPart(c call, init, final bool, cv []byte) (encodeFunc, error) {
	id, req, data, err := cipherRequest(c, true)
	if err != nil {
		return nil, err
	}
	var s *stream
	switch {
	case init && cv != nil:
		return nil, fieldError("the first part of a multi-part operation has no Correlation Value")
	case init:
		if req.Params.Mode != kms.ModeGCM {
			return nil, errorf(kmip14.ResultReasonFeatureNotSupported, "only GCM encryption is served in parts")
		}
		s = &stream{identity: c.sess.identity, id: id, req: req}
	default:
		var ok bool
		if s, ok = h.streams.take(h.now(), cv, c.sess.identity); !ok {
			return nil, errorf(kmip14.ResultReasonItemNotFound, "no multi-part operation with this Correlation Value (it ended or expired)")
		}
		if id != s.id {
			clear(s.data)
			return nil, fieldError("the Unique Identifier is not the multi-part operation's")
		}
	}
	if len(s.data)+len(data) > kms.MaxCipherData {
		clear(s.data)
		return nil, errorf(kmip14.ResultReasonInvalidField, "a multi-part operation is limited to %d bytes of data", kms.MaxCipherData)
	}
	grown := append(append(make([]byte, 0, len(s.data)+len(data)), s.data...), data...)
	clear(s.data)
	s.data = grown
	res, err := h.svc.EncryptData(c.ctx, id, s.req, s.data)
	if err != nil {
		clear(s.data)
		return nil, cryptoError(c.version, err)
	}
	if res.IV != nil {
		// Later parts use the IV the server chose for the first.
		s.req.IV, s.req.Params.RandomIV = res.IV, false
	}
	// Later parts count only their own data against Usage Limits.
	continued := s.req.Continued
	s.req.Continued, s.req.Counted = true, len(s.data)
	out := res.Data[s.sent:]
	s.sent = len(res.Data)
	var next []byte
	if final {
		clear(s.data)
	} else if next, err = h.streams.put(h.now(), cv, s); err != nil {
		clear(s.data)
		return nil, err
	}
	// Undone (Undo batch), the part's ciphertext never reaches the
	// client: the stream ends, so that a later part cannot skip the
	// bytes, and the part's use of the Usage Limits is given back.
	c.compensate(func(ctx context.Context) error {
		if next != nil {
			h.streams.drop(next)
		}
		return h.svc.ReturnUsage(ctx, id, len(data), continued)
	})
	return func(e *ttlv.Encoder) error {
		e.EncodeTextString(kmip14.TagUniqueIdentifier, id)
		e.EncodeByteString(kmip14.TagData, out)
		if init && res.IV != nil {
			e.EncodeByteString(kmip14.TagIVCounterNonce, res.IV)
		}
		if next != nil {
			e.EncodeByteString(kmip14.TagCorrelationValue, next)
		}
		if final {
			e.EncodeByteString(kmip14.TagAuthenticatedEncryptionTag, res.Tag)
		}
		return nil
	}, nil
}
