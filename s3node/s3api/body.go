package s3api

import (
	"encoding/xml"
	"io"

	"github.com/s3kms/s3kms/s3node/s3err"
)

// maxXMLBody bounds the XML request documents (AWS: DeleteObjects allows
// 1000 keys, which fits easily).
const maxXMLBody = 2 << 20

// body returns the request body wrapped by sigv4 so that reading it
// verifies payload hashes, chunk signatures and checksum trailers. The
// reader returns io.EOF only once every check passed.
func (rq *request) body() io.ReadCloser {
	return rq.auth.Body(rq.r.Body)
}

// readXML reads a whole (small) XML request document, verified, into v.
// An empty body leaves v untouched and returns false. A document that
// does not parse is MalformedXML.
func (rq *request) readXML(v any) (bool, error) {
	b := rq.body()
	defer b.Close()
	data, err := io.ReadAll(io.LimitReader(b, maxXMLBody+1))
	if err != nil {
		return false, err
	}
	if len(data) > maxXMLBody {
		return false, s3err.Msg(s3err.MalformedXML, "The XML you provided was larger than the maximum allowed size.")
	}
	if len(data) == 0 {
		return false, nil
	}
	if err := xml.Unmarshal(data, v); err != nil {
		e := s3err.New(s3err.MalformedXML)
		e.Err = err
		return false, e
	}
	return true, nil
}
