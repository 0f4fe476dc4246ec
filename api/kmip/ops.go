package kmip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"

	"github.com/s3kms/s3kms/kms"
)

// session is what a handler knows about its caller: the identity of the
// connection's verified client certificate and whether the policy names
// it.
type session struct {
	identity kms.Identity
	known    bool
	connID   string // random, for logs
}

// call is one batch item being served.
type call struct {
	ctx     context.Context
	sess    session
	version version
	payload node // the Request Payload; a zero node when absent
	// placeholder is the batch's ID Placeholder: the Unique Identifier
	// the last Create or Locate of the batch returned, used by items
	// that omit theirs. Empty until set.
	placeholder *string
	// undo is set in a batch with Batch Error Continuation Option Undo:
	// the item's compensations and deferred actions (see batchUndo).
	undo *itemUndo
}

// compensate registers fn to undo the item's side effect should a later
// item of an Undo batch fail. Outside Undo batches it does nothing.
func (c call) compensate(fn func(ctx context.Context) error) {
	if c.undo != nil {
		c.undo.compensations = append(c.undo.compensations, fn)
	}
}

// deferUntilCommit runs fn now, or, in an Undo batch, once every item
// has succeeded: for side effects that cannot be undone (Destroy erases
// key material). An error of a deferred fn fails the batch, undoing the
// other items.
func (c call) deferUntilCommit(ctx context.Context, fn func(ctx context.Context) error) error {
	if c.undo == nil {
		return fn(ctx)
	}
	c.undo.deferred = append(c.undo.deferred, fn)
	return nil
}

// encodeFunc writes the children of a Response Payload.
type encodeFunc func(e *ttlv.Encoder) error

// operation is one row of the operation table.
type operation struct {
	// anyVersion lets the operation run at a protocol version the server
	// does not speak (Discover Versions: it is how clients find one).
	anyVersion bool
	// anonymous lets a client whose identity is not in the policy call
	// the operation. Operations that touch keys never set it.
	anonymous bool
	// unlisted keeps the operation out of Query Operations: it is served,
	// but does not yet cover what the KMIP profiles require of it, and a
	// client (or the OASIS test cases) must not be told otherwise.
	unlisted bool
	handle   func(h *handler, c call) (encodeFunc, error)
}

// operationTable is the one table of the operations the server
// implements. Later slices add rows (Create, Get, …); everything else is
// answered with Operation Not Supported. (A function, not a variable:
// Query lists the table, which would make a package-level variable
// refer to itself.)
func operationTable() map[kmip14.Operation]operation {
	return map[kmip14.Operation]operation{
		kmip14.OperationDiscoverVersions: {anyVersion: true, anonymous: true, handle: (*handler).discoverVersions},
		kmip14.OperationQuery:            {handle: (*handler).query},
		kmip14.OperationCreate:           {handle: (*handler).create},
		kmip14.OperationRegister:         {handle: (*handler).register},
		kmip14.OperationGet:              {handle: (*handler).get},
		kmip14.OperationActivate:         {handle: (*handler).activate},
		kmip14.OperationRevoke:           {handle: (*handler).revoke},
		kmip14.OperationDestroy:          {handle: (*handler).destroy},
		kmip14.OperationGetAttributes:    {handle: (*handler).getAttributes},
		kmip14.OperationGetAttributeList: {handle: (*handler).getAttributeList},
		kmip14.OperationLocate:           {handle: (*handler).locate},
		// Cryptographic operations with PurposeMaterial keys (crypt.go).
		kmip14.OperationEncrypt:     {handle: (*handler).encrypt},
		kmip14.OperationDecrypt:     {handle: (*handler).decrypt},
		kmip14.OperationMAC:         {handle: (*handler).mac},
		kmip14.OperationMACVerify:   {handle: (*handler).macVerify},
		kmip14.OperationRNGRetrieve: {handle: (*handler).rngRetrieve},

		kmip14.OperationAddAttribute:    {handle: (*handler).addAttribute},
		kmip14.OperationModifyAttribute: {handle: (*handler).modifyAttribute},
		kmip14.OperationDeleteAttribute: {handle: (*handler).deleteAttribute},
		kmip14.OperationCheck:           {handle: (*handler).check},
		kmip14.OperationReKey:           {handle: (*handler).reKey},
	}
}

// handler decodes requests, dispatches their batch items through the
// operation table and encodes the responses. It never panics and never
// returns without a response.
type handler struct {
	svc *kms.Service
	log *slog.Logger
	now func() time.Time
	ops map[kmip14.Operation]operation
	// streams are the multi-part Encrypts in progress (stream.go).
	streams streamTable
	// metrics (nil: none) and the access log switch (metrics.go).
	metrics   *metrics
	accessLog bool
}

func newHandler(svc *kms.Service, log *slog.Logger) *handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &handler{svc: svc, log: log, now: time.Now, ops: operationTable()}
}

// handleMessage answers one request message (b holds the whole TTLV
// value, header included). It always returns an encoded response, even
// for bytes that are not a Request Message, and never panics.
func (h *handler) handleMessage(ctx context.Context, sess session, b []byte) (resp []byte) {
	defer func() {
		if v := recover(); v != nil {
			// Log the failure, never the request's contents.
			h.log.Error("kmip: panic while handling a request", "identity", sess.identity, "conn_id", sess.connID,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			resp = h.messageError(fallbackVersion, errorf(kmip14.ResultReasonGeneralFailure, "internal error"))
		}
	}()
	req, v, err := decodeRequest(b)
	if err != nil {
		return h.messageError(v, err)
	}
	items := h.runBatch(ctx, sess, req)
	out, err := encodeResponse(req.version, h.now(), items)
	if err != nil {
		h.log.Error("kmip: encoding a response", "err", err)
		return h.messageError(req.version, errorf(kmip14.ResultReasonGeneralFailure, "internal error"))
	}
	if req.maxResponseSize > 0 && len(out) > int(req.maxResponseSize) {
		for i := range items {
			if items[i].status == kmip14.ResultStatusSuccess {
				items[i] = failed(items[i], kmip14.ResultReasonResponseTooLarge,
					fmt.Sprintf("the response exceeds the Maximum Response Size of %d bytes", req.maxResponseSize))
			}
		}
		if out, err = encodeResponse(req.version, h.now(), items); err != nil {
			h.log.Error("kmip: encoding a response", "err", err)
			return h.messageError(req.version, errorf(kmip14.ResultReasonGeneralFailure, "internal error"))
		}
	}
	return out
}

// messageError answers a request that could not be decoded: one batch
// item with no Operation, Result Status Operation Failed, err's Result
// Reason and Result Message.
func (h *handler) messageError(v version, err error) []byte {
	reason, msg, _ := toResult(err)
	out, eerr := encodeResponse(v, h.now(), []responseItem{{
		status: kmip14.ResultStatusOperationFailed, reason: reason, message: msg,
	}})
	if eerr != nil {
		// Encoding a fixed handful of scalars into memory cannot fail.
		panic(eerr)
	}
	return out
}

// runBatch serves the batch items in order, applying the request's Batch
// Error Continuation Option: Continue serves every item; Stop serves
// items until one fails and answers only those; Undo is Stop, and then
// undoes the earlier items (see batchUndo).
func (h *handler) runBatch(ctx context.Context, sess session, req *request) []responseItem {
	var out []responseItem
	var placeholder string
	var undo *batchUndo
	if req.onError == kmip14.BatchErrorContinuationOptionUndo {
		undo = &batchUndo{}
	}
	for i, ri := range req.items {
		var iu *itemUndo
		if undo != nil {
			iu = &itemUndo{}
			undo.items = append(undo.items, iu)
		}
		start := time.Now()
		it := h.runItem(ctx, sess, req.version, ri, &placeholder, iu)
		h.observeItem(ctx, sess, i, it, time.Since(start))
		out = append(out, it)
		if it.status == kmip14.ResultStatusOperationFailed && req.onError != kmip14.BatchErrorContinuationOptionContinue {
			if undo != nil {
				h.undoBatch(ctx, sess, undo, out, len(out)-1)
			}
			return out
		}
	}
	if undo != nil {
		h.commitBatch(ctx, sess, undo, out)
	}
	return out
}

// runItem serves one batch item and turns any error into a failed item.
func (h *handler) runItem(ctx context.Context, sess session, v version, ri requestItem, placeholder *string, undo *itemUndo) (it responseItem) {
	it = responseItem{op: ri.op, hasOp: ri.hasOp, id: ri.id}
	defer func() {
		if p := recover(); p != nil {
			h.log.Error("kmip: panic in operation", "operation", ri.op, "identity", sess.identity, "conn_id", sess.connID,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			it = failed(it, kmip14.ResultReasonGeneralFailure, "internal error")
		}
	}()
	if ri.err != nil {
		return failed(it, ri.err.Reason, ri.err.Message)
	}
	op, ok := h.ops[ri.op]
	if !ok {
		return failed(it, kmip14.ResultReasonOperationNotSupported,
			fmt.Sprintf("operation %s is not supported", ri.op))
	}
	if !v.supported() && !op.anyVersion {
		return failed(it, kmip14.ResultReasonInvalidMessage,
			fmt.Sprintf("protocol version %s is not supported; use Discover Versions", v))
	}
	if !op.anonymous && !sess.known {
		return failed(it, kmip14.ResultReasonAuthenticationNotSuccessful,
			fmt.Sprintf("client identity %s is not in the policy", sess.identity))
	}
	enc, err := op.handle(h, call{ctx: ctx, sess: sess, version: v, payload: ri.payload, placeholder: placeholder, undo: undo})
	if err != nil {
		reason, msg, unexpected := toResult(err)
		if unexpected {
			h.log.Error("kmip: operation failed", "operation", ri.op, "identity", sess.identity, "conn_id", sess.connID, "err", err)
		}
		it = failed(it, reason, msg)
		var ke *Error
		if errors.As(err, &ke) {
			it.payload = ke.payload
		}
		return it
	}
	it.status, it.payload = kmip14.ResultStatusSuccess, enc
	return it
}

func failed(it responseItem, reason kmip14.ResultReason, msg string) responseItem {
	it.status, it.reason, it.message, it.payload = kmip14.ResultStatusOperationFailed, reason, msg, nil
	return it
}
