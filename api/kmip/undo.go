package kmip

import (
	"context"
	"fmt"
	"time"

	"github.com/gemalto/kmip-go/kmip14"
)

// Batch Error Continuation Option Undo.
//
// Every item with a side effect registers compensations as it succeeds
// (call.compensate): Create and ReKey purge the key they made
// (kms.Service.PurgeKey), Activate, Revoke and Add/Modify/Delete
// Attribute restore the key's previous state and attributes
// (kms.Service.RestoreKey), both only if nothing else changed the key
// since (compare-and-set on its revision); Encrypt, MAC and a wrapped
// Get give back what they took from a key's Usage Limits
// (kms.Service.ReturnUsage), and an undone part of a multi-part Encrypt
// also ends its stream (stream.go). When an item fails, the
// compensations of the earlier items run newest first and those items
// are answered with Result Status Operation Undone. Items without side
// effects (Get Attributes, Locate, Query, Check…) are undone trivially.
//
// Destroy cannot be undone (it erases the key material), so in an Undo
// batch it is deferred: the item checks the object and answers Success,
// and the destruction runs once every item has succeeded
// (call.deferUntilCommit). If a deferred destruction fails, that item
// fails and the other items are undone — except destructions that
// already ran, which stay answered Success. Later items of the batch
// therefore still see the object as it was before the Destroy.
//
// A compensation that fails (the key changed meanwhile, or the database
// is unreachable) leaves its item answered Success, and the failing
// item's Result Message says which items could not be undone; the cause
// is logged.

// batchUndo is the undo state of one batch.
type batchUndo struct {
	items []*itemUndo
}

// itemUndo is what one batch item registered.
type itemUndo struct {
	compensations []func(ctx context.Context) error
	deferred      []func(ctx context.Context) error
	// done is set once the deferred actions ran: the item can no longer
	// be undone.
	done bool
}

// undoTimeout bounds the compensations of one batch.
const undoTimeout = 30 * time.Second

// undoBatch undoes the successful items of out other than failed, newest
// first, and answers them Operation Undone.
func (h *handler) undoBatch(ctx context.Context, sess session, u *batchUndo, out []responseItem, failed int) {
	// Compensations run even when the client went away: the batch must
	// not stay half applied.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	var kept []int
	for i := len(out) - 1; i >= 0; i-- {
		if i == failed || out[i].status != kmip14.ResultStatusSuccess {
			continue
		}
		if u.items[i].done {
			kept = append(kept, i)
			continue
		}
		ok := true
		cs := u.items[i].compensations
		for j := len(cs) - 1; j >= 0; j-- {
			if err := cs[j](ctx); err != nil {
				h.log.Error("kmip: undoing a batch item failed", "operation", out[i].op, "identity", sess.identity, "err", err)
				ok = false
			}
		}
		if !ok {
			kept = append(kept, i)
			continue
		}
		out[i].status, out[i].payload = kmip14.ResultStatusOperationUndone, nil
	}
	if len(kept) > 0 {
		out[failed].message += fmt.Sprintf(" (batch items %v could not be undone)", kept)
	}
}

// commitBatch runs the deferred actions of a successful Undo batch in
// item order; the first that fails fails its item and undoes the others.
func (h *handler) commitBatch(ctx context.Context, sess session, u *batchUndo, out []responseItem) {
	for i, iu := range u.items {
		for _, fn := range iu.deferred {
			if err := fn(ctx); err != nil {
				reason, msg, unexpected := toResult(err)
				if unexpected {
					h.log.Error("kmip: deferred operation failed", "operation", out[i].op, "identity", sess.identity, "err", err)
				}
				out[i] = failed(out[i], reason, msg)
				h.undoBatch(ctx, sess, u, out, i)
				return
			}
		}
		if len(iu.deferred) > 0 {
			iu.done = true
		}
	}
}
