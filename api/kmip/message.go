package kmip

import (
	"bytes"
	"fmt"
	"time"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"
)

// version is a KMIP protocol version.
type version struct{ major, minor int32 }

func (v version) String() string { return fmt.Sprintf("%d.%d", v.major, v.minor) }

// supportedVersions are the versions the server speaks, newest first (the
// order Discover Versions answers in).
var supportedVersions = []version{{2, 0}, {1, 4}, {1, 3}, {1, 2}, {1, 1}, {1, 0}}

func (v version) supported() bool {
	for _, s := range supportedVersions {
		if s == v {
			return true
		}
	}
	return false
}

// fallbackVersion answers a request whose version could not be read. 1.0
// is the version every KMIP client parses.
var fallbackVersion = version{1, 0}

// maxBatchItems bounds the batch items of one request. A message is at
// most Config.MaxMessageSize bytes, but a batch item can be tiny (an RNG
// Retrieve or a Locate is some 50 bytes) while its result is large (64
// KiB of random bytes, 1000 identifiers after a scan of every key): the
// whole response is built in memory, so without this bound one 1 MiB
// request could make the server hold gigabytes. Real clients send one
// item, the OASIS test cases at most 4.
const maxBatchItems = 256

// request is a decoded Request Message.
type request struct {
	version         version
	maxResponseSize int32 // 0: no limit
	onError         kmip14.BatchErrorContinuationOption
	items           []requestItem
}

// requestItem is one Batch Item of a request.
type requestItem struct {
	op      kmip14.Operation
	hasOp   bool
	id      []byte // Unique Batch Item ID, nil when absent
	payload node   // Request Payload (a Structure); zero when absent
	err     *Error // set when the item itself does not decode
}

// decodeRequest decodes a Request Message. On error, the returned version
// is the request's when its header could be read that far, else
// fallbackVersion, so that the error can be answered in it.
func decodeRequest(b []byte) (*request, version, error) {
	msg, err := parseTTLV(b)
	if err != nil {
		return nil, fallbackVersion, invalidMessage("the message is not valid TTLV: %v", err)
	}
	if msg.tag != kmip14.TagRequestMessage || msg.structure() != nil {
		return nil, fallbackVersion, invalidMessage("the message is not a Request Message structure")
	}
	hdr, ok := msg.child(kmip14.TagRequestHeader)
	if !ok || hdr.structure() != nil {
		return nil, fallbackVersion, invalidMessage("the Request Header is missing")
	}
	v, err := decodeVersion(hdr)
	if err != nil {
		return nil, fallbackVersion, err
	}
	req := &request{version: v, onError: kmip14.BatchErrorContinuationOptionStop}
	if n, ok := hdr.child(kmip14.TagMaximumResponseSize); ok {
		if req.maxResponseSize, err = n.integer(); err != nil || req.maxResponseSize < 0 {
			return nil, v, invalidMessage("invalid Maximum Response Size")
		}
	}
	if n, ok := hdr.child(kmip14.TagBatchErrorContinuationOption); ok {
		o, err := n.enum()
		switch opt := kmip14.BatchErrorContinuationOption(o); {
		case err != nil:
			return nil, v, invalidMessage("invalid Batch Error Continuation Option")
		case opt == kmip14.BatchErrorContinuationOptionContinue, opt == kmip14.BatchErrorContinuationOptionStop,
			opt == kmip14.BatchErrorContinuationOptionUndo:
			req.onError = opt
		default:
			return nil, v, invalidMessage("unknown Batch Error Continuation Option %d", o)
		}
	}
	// Asynchronous Indicator, Batch Order Option, Time Stamp and
	// Authentication are accepted and ignored: batches always run in
	// order and synchronously, and the client is authenticated by its
	// TLS certificate.
	if n, ok := hdr.child(kmip14.TagAsynchronousIndicator); ok {
		if _, err := n.boolean(); err != nil {
			return nil, v, invalidMessage("invalid Asynchronous Indicator")
		}
	}
	bc, ok := hdr.child(kmip14.TagBatchCount)
	if !ok {
		return nil, v, invalidMessage("the Batch Count is missing")
	}
	count, err := bc.integer()
	if err != nil {
		return nil, v, invalidMessage("invalid Batch Count")
	}
	items := msg.children(kmip14.TagBatchItem)
	if count < 1 || int(count) != len(items) {
		return nil, v, invalidMessage("the Batch Count is %d but the message holds %d batch items", count, len(items))
	}
	if len(items) > maxBatchItems {
		return nil, v, invalidMessage("the message holds %d batch items; the limit is %d", len(items), maxBatchItems)
	}
	for _, it := range items {
		req.items = append(req.items, decodeItem(it))
	}
	return req, v, nil
}

func decodeVersion(hdr node) (version, error) {
	pv, ok := hdr.child(kmip14.TagProtocolVersion)
	if !ok || pv.structure() != nil {
		return version{}, invalidMessage("the Protocol Version is missing")
	}
	return decodeVersionStruct(pv)
}

// decodeVersionStruct decodes a Protocol Version structure.
func decodeVersionStruct(pv node) (version, error) {
	maj, ok1 := pv.child(kmip14.TagProtocolVersionMajor)
	minr, ok2 := pv.child(kmip14.TagProtocolVersionMinor)
	if !ok1 || !ok2 {
		return version{}, invalidMessage("the Protocol Version is incomplete")
	}
	a, err1 := maj.integer()
	b, err2 := minr.integer()
	if err1 != nil || err2 != nil || a < 0 || b < 0 {
		return version{}, invalidMessage("invalid Protocol Version")
	}
	return version{a, b}, nil
}

func decodeItem(it node) requestItem {
	var ri requestItem
	if it.structure() != nil {
		ri.err = invalidMessage("a Batch Item is not a structure")
		return ri
	}
	if n, ok := it.child(kmip14.TagUniqueBatchItemID); ok {
		if n.typ != ttlv.TypeByteString {
			ri.err = invalidMessage("the Unique Batch Item ID is not a Byte String")
			return ri
		}
		ri.id = bytes.Clone(n.val)
		if ri.id == nil {
			ri.id = []byte{}
		}
	}
	n, ok := it.child(kmip14.TagOperation)
	if !ok {
		ri.err = invalidMessage("a Batch Item has no Operation")
		return ri
	}
	op, err := n.enum()
	if err != nil {
		ri.err = invalidMessage("the Operation is not an Enumeration")
		return ri
	}
	ri.op, ri.hasOp = kmip14.Operation(op), true
	if p, ok := it.child(kmip14.TagRequestPayload); ok {
		if p.structure() != nil {
			ri.err = invalidMessage("the Request Payload is not a structure")
			return ri
		}
		ri.payload = p
	}
	return ri
}

// responseItem is one Batch Item of a response.
type responseItem struct {
	op      kmip14.Operation
	hasOp   bool
	id      []byte
	status  kmip14.ResultStatus
	reason  kmip14.ResultReason // failures only
	message string              // failures only
	payload func(e *ttlv.Encoder) error
}

// encodeResponse encodes a Response Message in version v. It only ever
// writes the header fields every version defines (Protocol Version, Time
// Stamp, Batch Count): no Nonce, Attestation Type or Correlation Values.
func encodeResponse(v version, now time.Time, items []responseItem) ([]byte, error) {
	var buf bytes.Buffer
	e := ttlv.NewEncoder(&buf)
	err := e.EncodeStructure(kmip14.TagResponseMessage, func(e *ttlv.Encoder) error {
		if err := e.EncodeStructure(kmip14.TagResponseHeader, func(e *ttlv.Encoder) error {
			encodeVersion(e, v)
			e.EncodeDateTime(kmip14.TagTimeStamp, now)
			e.EncodeInteger(kmip14.TagBatchCount, int32(len(items)))
			return nil
		}); err != nil {
			return err
		}
		for _, it := range items {
			if err := e.EncodeStructure(kmip14.TagBatchItem, func(e *ttlv.Encoder) error {
				return encodeItem(e, it)
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := e.Flush(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func encodeVersion(e *ttlv.Encoder, v version) {
	_ = e.EncodeStructure(kmip14.TagProtocolVersion, func(e *ttlv.Encoder) error {
		e.EncodeInteger(kmip14.TagProtocolVersionMajor, v.major)
		e.EncodeInteger(kmip14.TagProtocolVersionMinor, v.minor)
		return nil
	})
}

// encodeItem writes a response Batch Item in the field order KMIP
// defines: Operation (when the request named one), Unique Batch Item ID
// (when the request sent one), Result Status, Result Reason and Result
// Message (failures), Response Payload (successes, and the failures of
// Check).
func encodeItem(e *ttlv.Encoder, it responseItem) error {
	if it.hasOp {
		e.EncodeEnumeration(kmip14.TagOperation, uint32(it.op))
	}
	if it.id != nil {
		e.EncodeByteString(kmip14.TagUniqueBatchItemID, it.id)
	}
	e.EncodeEnumeration(kmip14.TagResultStatus, uint32(it.status))
	if it.status == kmip14.ResultStatusOperationFailed {
		e.EncodeEnumeration(kmip14.TagResultReason, uint32(it.reason))
		e.EncodeTextString(kmip14.TagResultMessage, it.message)
	}
	// A failure carries a payload only when its operation defines one
	// (Check returns the attribute that failed).
	if it.status == kmip14.ResultStatusSuccess || (it.status == kmip14.ResultStatusOperationFailed && it.payload != nil) {
		return e.EncodeStructure(kmip14.TagResponsePayload, func(e *ttlv.Encoder) error {
			if it.payload == nil {
				return nil
			}
			return it.payload(e)
		})
	}
	return nil
}
