package sigv4

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// sha256Reader verifies a fixed x-amz-content-sha256 at EOF.
type sha256Reader struct {
	r    io.ReadCloser
	h    hash.Hash
	want string
	err  error
}

func newSHA256Reader(r io.ReadCloser, want string) *sha256Reader {
	return &sha256Reader{r: r, h: sha256.New(), want: want}
}

func (s *sha256Reader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.r.Read(p)
	s.h.Write(p[:n])
	if err == io.EOF {
		got := hex.EncodeToString(s.h.Sum(nil))
		if got != s.want {
			err = newErr("XAmzContentSHA256Mismatch", http.StatusBadRequest, msgContentSHA256Mismatch).
				with("ClientComputedContentSHA256", s.want).
				with("S3ComputedContentSHA256", got)
		}
	}
	if err != nil {
		s.err = err
	}
	return n, err
}

func (s *sha256Reader) Close() error { return s.r.Close() }

// Limits of the aws-chunked decoder. A chunk header is
// "<hex size>;chunk-signature=<64 hex>\r\n" (under 100 bytes), a trailer line
// "x-amz-checksum-sha256:<44 base64>\r\n"; lines longer than maxLine are
// refused, and so are more than maxTrailers trailer lines.
const (
	maxLine     = 1024
	maxTrailers = 8
	chunkSigExt = ";chunk-signature="
)

// chunkedReader decodes and verifies an aws-chunked body:
//
//	chunk   = hex-size [";chunk-signature=" sig] CRLF data CRLF
//	final   = "0" [";chunk-signature=" sig] CRLF
//	trailer = *(name ":" value CRLF) ["x-amz-trailer-signature:" sig CRLF]
//	body    = *chunk final [trailer] CRLF
//
// Each chunk is read whole and its signature checked before any of its bytes
// are returned, so at most one chunk (≤ maxChunk bytes) is buffered.
type chunkedReader struct {
	body  io.ReadCloser
	src   *bufio.Reader
	res   *Result
	buf   bytes.Buffer
	prev  string // previous signature (seed: the request signature)
	total int64
	sum   hash.Hash
	algo  checksumAlgo
	err   error
}

func newChunkedReader(body io.ReadCloser, res *Result) *chunkedReader {
	c := &chunkedReader{body: body, src: bufio.NewReaderSize(body, 4096), res: res, prev: res.signature}
	if res.Trailer != "" {
		c.algo, _ = checksumByHeader(res.Trailer)
		c.sum = c.algo.newFn()
	}
	return c
}

func (c *chunkedReader) signed() bool {
	return c.res.Payload == PayloadStreamingSigned || c.res.Payload == PayloadStreamingSignedTrailer
}

func (c *chunkedReader) trailing() bool {
	return c.res.Payload == PayloadStreamingSignedTrailer || c.res.Payload == PayloadStreamingUnsignedTrailer
}

func (c *chunkedReader) Close() error { return c.body.Close() }

func (c *chunkedReader) Read(p []byte) (int, error) {
	for c.buf.Len() == 0 {
		if c.err != nil {
			return 0, c.err
		}
		c.err = c.nextChunk()
	}
	return c.buf.Read(p)
}

// readLine reads one CRLF-terminated line (without the CRLF). At EOF with
// nothing read it returns "", io.EOF.
func (c *chunkedReader) readLine() (string, error) {
	line, err := c.src.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull) || len(line) > maxLine:
		return "", errInvalidRequest("Malformed aws-chunked encoding: line too long.")
	case err == io.EOF && len(line) == 0:
		return "", io.EOF
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return "", errIncompleteBody()
	case err != nil:
		return "", err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return "", errInvalidRequest("Malformed aws-chunked encoding: line not terminated by CRLF.")
	}
	return string(line[:len(line)-2]), nil
}

// nextChunk reads and verifies one chunk into c.buf. At the end of the body
// it returns io.EOF if every check passed.
func (c *chunkedReader) nextChunk() error {
	line, err := c.readLine()
	if err == io.EOF {
		return errIncompleteBody()
	}
	if err != nil {
		return err
	}
	sizeStr, sig := line, ""
	if c.signed() {
		var ok bool
		sizeStr, sig, ok = strings.Cut(line, chunkSigExt)
		if !ok || !isHex64(sig) {
			return errSignature()
		}
		sig = strings.ToLower(sig)
	}
	if sizeStr == "" || len(sizeStr) > 8 {
		return errInvalidRequest("Malformed aws-chunked encoding: invalid chunk size.")
	}
	size, err := strconv.ParseUint(sizeStr, 16, 32)
	if err != nil {
		return errInvalidRequest("Malformed aws-chunked encoding: invalid chunk size.")
	}
	if size > uint64(c.res.maxChunk) {
		return errInvalidRequest("Malformed aws-chunked encoding: chunk size exceeds the limit of " + strconv.Itoa(c.res.maxChunk) + " bytes.")
	}
	if c.total+int64(size) > c.res.DecodedContentLength {
		return errInvalidRequest("The decoded body is longer than x-amz-decoded-content-length.")
	}
	c.buf.Reset()
	if size > 0 {
		// The buffer grows as bytes arrive, never to an announced size.
		n, err := c.buf.ReadFrom(io.LimitReader(c.src, int64(size)))
		if err != nil {
			return err
		}
		if n != int64(size) {
			c.buf.Reset()
			return errIncompleteBody()
		}
		crlf, err := c.readLine()
		if err != nil || crlf != "" {
			c.buf.Reset()
			if err == io.EOF || errors.Is(err, ErrIncompleteBody) {
				return errIncompleteBody()
			}
			return errInvalidRequest("Malformed aws-chunked encoding: chunk data not followed by CRLF.")
		}
	}
	if c.signed() {
		h := sha256.Sum256(c.buf.Bytes())
		sts := "AWS4-HMAC-SHA256-PAYLOAD\n" + c.res.timestamp + "\n" + c.res.scope + "\n" + c.prev + "\n" +
			emptySHA256Hex + "\n" + hex.EncodeToString(h[:])
		if !signatureMatches(hmacSHA256(c.res.signingKey, sts), sig) {
			c.buf.Reset()
			return errSignature()
		}
		c.prev = sig
	}
	c.total += int64(size)
	if c.sum != nil {
		c.sum.Write(c.buf.Bytes())
	}
	if size > 0 {
		return nil
	}
	return c.finish()
}

// finish handles what follows the final chunk: trailers, the closing CRLF,
// the length and checksum checks.
func (c *chunkedReader) finish() error {
	if c.total != c.res.DecodedContentLength {
		return errIncompleteBody()
	}
	trailers := http.Header{}
	var canon strings.Builder
	trailerSig := ""
	for n := 0; ; n++ {
		line, err := c.readLine()
		if err == io.EOF || (err == nil && line == "") {
			break // the closing empty line may be missing at EOF
		}
		if err != nil {
			return err
		}
		if !c.trailing() || n >= maxTrailers || trailerSig != "" {
			return errMalformedTrailer()
		}
		name, value, ok := strings.Cut(line, ":")
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.TrimSpace(value)
		if !ok || name == "" {
			return errMalformedTrailer()
		}
		if name == "x-amz-trailer-signature" {
			if c.res.Payload != PayloadStreamingSignedTrailer || !isHex64(value) {
				return errMalformedTrailer()
			}
			trailerSig = value
			continue
		}
		if trailers.Get(name) != "" {
			return errMalformedTrailer()
		}
		trailers.Set(name, value)
		canon.WriteString(name + ":" + value + "\n")
	}
	if c.res.Payload == PayloadStreamingSignedTrailer && (trailerSig != "" || len(trailers) > 0) {
		if trailerSig == "" {
			return errSignature()
		}
		sts := "AWS4-HMAC-SHA256-TRAILER\n" + c.res.timestamp + "\n" + c.res.scope + "\n" + c.prev + "\n" +
			sha256Hex([]byte(canon.String()))
		if !signatureMatches(hmacSHA256(c.res.signingKey, sts), trailerSig) {
			return errSignature()
		}
	}
	if extra, _ := c.src.Peek(1); len(extra) > 0 {
		return errInvalidRequest("Malformed aws-chunked encoding: data after the final chunk.")
	}
	if err := c.checkTrailers(trailers); err != nil {
		return err
	}
	clear(c.res.signingKey)
	c.res.trailers = trailers
	return io.EOF
}

// checkTrailers compares the declared checksum trailer with the data.
func (c *chunkedReader) checkTrailers(trailers http.Header) error {
	for k := range trailers {
		lk := strings.ToLower(k)
		if lk != c.res.Trailer {
			return errMalformedTrailer()
		}
	}
	if c.res.Trailer == "" {
		return nil
	}
	v := trailers.Get(c.res.Trailer)
	if v == "" {
		return errMalformedTrailer()
	}
	got, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(got) != c.algo.size {
		return errInvalidRequest("Value for " + c.res.Trailer + " trailing header is invalid.")
	}
	if !bytes.Equal(got, c.sum.Sum(nil)) {
		return newErr("BadDigest", http.StatusBadRequest, "The "+c.algo.name+" you specified did not match the calculated checksum.")
	}
	return nil
}
