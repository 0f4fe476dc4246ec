package kmip

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"
)

// aUsageLimits is a Usage Limits attribute (unit 0: none sent).
func aUsageLimits(total int64, unit kmip14.UsageLimitsUnit) tattr {
	return tattr{attrUsageLimits, func(e *ttlv.Encoder, tag ttlv.Tag) {
		_ = e.EncodeStructure(tag, func(e *ttlv.Encoder) error {
			e.EncodeLongInteger(kmip14.TagUsageLimitsTotal, total)
			if unit != 0 {
				e.EncodeEnumeration(kmip14.TagUsageLimitsUnit, uint32(unit))
			}
			return nil
		})
	}}
}

// usageLimitsOf finds the Usage Limits in a Get Attributes payload and
// renders them "total/count/unit" (unit 1: Byte); "" when absent.
func usageLimitsOf(p ttlv.TTLV) string {
	var find func(t ttlv.TTLV) ttlv.TTLV
	find = func(t ttlv.TTLV) ttlv.TTLV {
		if t.Type() != ttlv.TypeStructure {
			return nil
		}
		if t.Tag() == kmip14.TagUsageLimits || t.Tag() == kmip14.TagAttributeValue {
			for _, c := range children(t) {
				if c.Tag() == kmip14.TagUsageLimitsTotal {
					return t
				}
			}
		}
		for _, c := range children(t) {
			if f := find(c); f != nil {
				return f
			}
		}
		return nil
	}
	u := find(p)
	if u == nil {
		return ""
	}
	out := map[ttlv.Tag]string{}
	for _, c := range children(u) {
		out[c.Tag()] = fmt.Sprint(c.Value())
	}
	return out[kmip14.TagUsageLimitsTotal] + "/" + out[kmip14.TagUsageLimitsCount] + "/" + out[kmip14.TagUsageLimitsUnit]
}

// getNamed is a Get Attributes payload asking for one attribute by name.
// TestUsageLimitsKMIP follows the OASIS case CS-BC-M-7 at 1.2, 1.4 and
// 2.0: a key registered with Usage Limits of 16 bytes encrypts 16 bytes
// once, then is refused with Permission Denied; Check asks without using;
// Get Attributes reports the count left; the attribute is read only.
func TestUsageLimitsKMIP(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	key := mustHex(t, "0123456789abcdef0123456789abcdef")
	data := mustHex(t, "01020304050607080910111213141516")
	for _, v := range testVersions {
		t.Run(v.String(), func(t *testing.T) {
			id := createdID(t, do(t, c, v, kmip14.OperationRegister, registerKey(v, kmip14.KeyFormatTypeRaw, key,
				kmip14.CryptographicAlgorithmAES, 128,
				aInt(attrUsageMask, int32(kmip14.CryptographicUsageMaskEncrypt|kmip14.CryptographicUsageMaskDecrypt)),
				aDate(attrActivationDate, time.Now().Add(-time.Hour)),
				aUsageLimits(16, kmip14.UsageLimitsUnitByte))))
			usage := func() string {
				return usageLimitsOf(mustSucceed(t, do(t, c, v, kmip14.OperationGetAttributes, getNamed(v, id, attrUsageLimits))).ResponsePayload)
			}
			if got := usage(); got != "16/16/1" {
				t.Errorf("new key's Usage Limits %q, want 16/16/1", got)
			}
			// Listed by name, but not in an unnamed Get Attributes
			// (PyKMIP cannot parse it).
			listed := false
			for _, n := range children(mustSucceed(t, do(t, c, v, kmip14.OperationGetAttributeList, idOnly(id))).ResponsePayload) {
				listed = listed || n.Tag() == kmip14.TagAttributeName && n.ValueTextString() == attrUsageLimits ||
					n.Tag() == tagAttributeReference && n.Type() == ttlv.TypeEnumeration && ttlv.Tag(n.ValueEnumeration()) == kmip14.TagUsageLimits
			}
			if !listed {
				t.Error("Get Attribute List does not name Usage Limits")
			}
			if got := usageLimitsOf(mustSucceed(t, do(t, c, v, kmip14.OperationGetAttributes, idOnly(id))).ResponsePayload); got != "" {
				t.Errorf("unnamed Get Attributes returns Usage Limits %q", got)
			}
			check := func(count int64) respItem {
				return do(t, c, v, kmip14.OperationCheck, func(e *ttlv.Encoder) {
					idOnly(id)(e)
					e.EncodeLongInteger(kmip14.TagUsageLimitsCount, count)
				})
			}
			mustSucceed(t, check(16))
			ecb := &cparams{mode: kmip14.BlockCipherModeECB}
			it := mustSucceed(t, do(t, c, v, kmip14.OperationEncrypt, cryptPayload{id: id, params: ecb, data: data}.enc))
			if got := payloadBytes(it.ResponsePayload)[kmip14.TagData]; !bytes.Equal(got, mustHex(t, "d9bcce11b0b437b90239552df3a360c9")) {
				t.Errorf("cipher text %x", got)
			}
			if got := usage(); got != "16/0/1" {
				t.Errorf("Usage Limits after 16 bytes %q, want 16/0/1", got)
			}
			it = check(1)
			mustFail(t, it, kmip14.ResultReasonPermissionDenied)
			if ids := textChildren(it.ResponsePayload, kmip14.TagUniqueIdentifier); len(ids) != 1 || ids[0] != id {
				t.Errorf("failed Check payload ids %v", ids)
			}
			mustSucceed(t, check(0))
			mustFail(t, do(t, c, v, kmip14.OperationEncrypt, cryptPayload{id: id, params: ecb, data: data}.enc), kmip14.ResultReasonPermissionDenied)
			// Decrypt applies no protection.
			mustSucceed(t, do(t, c, v, kmip14.OperationDecrypt, cryptPayload{id: id, params: ecb, data: data}.enc))
			mustFail(t, do(t, c, v, kmip14.OperationModifyAttribute, modifyPayload(v, id, aUsageLimits(32, kmip14.UsageLimitsUnitByte), 0, nil)),
				pick(v, kmip14.ResultReasonPermissionDenied, resultReasonAttributeReadOnly))
			if got := usage(); got != "16/0/1" {
				t.Errorf("Usage Limits at the end %q, want 16/0/1", got)
			}
		})
	}
}

// TestUsageLimitsInvalidKMIP: Usage Limits need a positive Total and a
// Unit; bad ones refuse the Create with Invalid Field, making nothing.
func TestUsageLimitsInvalidKMIP(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	for _, v := range testVersions {
		for _, u := range []tattr{
			aUsageLimits(0, kmip14.UsageLimitsUnitByte),
			aUsageLimits(10, 0),
			aUsageLimits(10, 7),
			aInt(attrUsageLimits, 10),
		} {
			mustFail(t, do(t, c, v, kmip14.OperationCreate, createPayload(v, kmip14.ObjectTypeSymmetricKey, append(aes(128), u)...)),
				kmip14.ResultReasonInvalidField)
		}
		// Objects: each Create is one.
		id := createKey(t, c, v, aDate(attrActivationDate, time.Now().Add(-time.Hour)),
			aUsageLimits(1, kmip14.UsageLimitsUnitObject))
		gcm := &cparams{mode: kmip14.BlockCipherModeGCM}
		mustSucceed(t, do(t, c, v, kmip14.OperationEncrypt, cryptPayload{id: id, params: gcm, data: make([]byte, 100)}.enc))
		mustFail(t, do(t, c, v, kmip14.OperationEncrypt, cryptPayload{id: id, params: gcm, data: []byte{1}}.enc),
			kmip14.ResultReasonPermissionDenied)
	}
}

// TestUsageLimitsStreamed: a multi-part Encrypt counts each byte once
// (each part re-encrypts all the data so far) and stops at the limits.
func TestUsageLimitsStreamed(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	gcm := &cparams{mode: kmip14.BlockCipherModeGCM}
	for _, v := range testVersions {
		t.Run(v.String(), func(t *testing.T) {
			id := createKey(t, c, v, aDate(attrActivationDate, time.Now().Add(-time.Hour)),
				aUsageLimits(50, kmip14.UsageLimitsUnitByte))
			it := mustSucceed(t, do(t, c, v, kmip14.OperationEncrypt, cryptPayload{id: id, params: gcm, data: make([]byte, 20), init: true}.enc))
			cv := payloadBytes(it.ResponsePayload)[kmip14.TagCorrelationValue]
			it = mustSucceed(t, do(t, c, v, kmip14.OperationEncrypt, cryptPayload{id: id, params: gcm, data: make([]byte, 20), correlationVal: cv}.enc))
			cv = payloadBytes(it.ResponsePayload)[kmip14.TagCorrelationValue]
			if got := usageLimitsOf(mustSucceed(t, do(t, c, v, kmip14.OperationGetAttributes, getNamed(v, id, attrUsageLimits))).ResponsePayload); got != "50/10/1" {
				t.Errorf("after 40 bytes in two parts: %q, want 50/10/1", got)
			}
			mustFail(t, do(t, c, v, kmip14.OperationEncrypt, cryptPayload{id: id, params: gcm, data: make([]byte, 11), correlationVal: cv, final: true}.enc),
				kmip14.ResultReasonPermissionDenied)
		})
	}
}

// TestUsageLimitsUndo: an Encrypt or wrapped Get undone by a later
// failure of its Undo batch gives back what it used; under Stop it
// keeps it used.
func TestUsageLimitsUndo(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	ecb := &cparams{mode: kmip14.BlockCipherModeECB}
	for _, v := range testVersions {
		t.Run(v.String(), func(t *testing.T) {
			id := createKey(t, c, v, aDate(attrActivationDate, time.Now().Add(-time.Hour)),
				aUsageLimits(64, kmip14.UsageLimitsUnitByte),
				aInt(attrUsageMask, int32(kmip14.CryptographicUsageMaskEncrypt|kmip14.CryptographicUsageMaskWrapKey)))
			target := createKey(t, c, v)
			usage := func() string {
				return usageLimitsOf(mustSucceed(t, do(t, c, v, kmip14.OperationGetAttributes, getNamed(v, id, attrUsageLimits))).ResponsePayload)
			}
			batch := func(onError kmip14.BatchErrorContinuationOption) respMsg {
				return roundTrip(t, c, encodeRequest(t, v, reqOpts{onError: onError},
					testItem{op: kmip14.OperationEncrypt, payload: cryptPayload{id: id, params: ecb, data: make([]byte, 16)}.enc},
					testItem{op: kmip14.OperationGet, payload: wrapOpts{method: kmip14.WrappingMethodEncrypt, keyID: id,
						mode: kmip14.BlockCipherModeNISTKeyWrap}.payload(target)},
					testItem{op: kmip14.OperationGet, payload: idOnly("missing")}))
			}
			m := batch(kmip14.BatchErrorContinuationOptionUndo)
			for i, want := range []kmip14.ResultStatus{kmip14.ResultStatusOperationUndone, kmip14.ResultStatusOperationUndone, kmip14.ResultStatusOperationFailed} {
				if m.BatchItem[i].ResultStatus != want {
					t.Errorf("Undo batch item %d: %s %q, want %s", i, m.BatchItem[i].ResultStatus, m.BatchItem[i].ResultMessage, want)
				}
			}
			if got := usage(); got != "64/64/1" {
				t.Errorf("after the undone batch: %q, want 64/64/1", got)
			}
			m = batch(kmip14.BatchErrorContinuationOptionStop)
			if m.BatchItem[0].ResultStatus != kmip14.ResultStatusSuccess || m.BatchItem[1].ResultStatus != kmip14.ResultStatusSuccess {
				t.Errorf("Stop batch: %s %s", m.BatchItem[0].ResultStatus, m.BatchItem[1].ResultStatus)
			}
			// 16 bytes encrypted, a 32-byte key wrapped.
			if got := usage(); got != "64/16/1" {
				t.Errorf("after the stopped batch: %q, want 64/16/1", got)
			}
		})
	}
}

// TestStreamedUndo: a part of a multi-part Encrypt undone by its Undo
// batch gives back what it used of the Usage Limits and ends the stream,
// whose ciphertext the client never got (a later part would skip it).
func TestStreamedUndo(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	gcm := &cparams{mode: kmip14.BlockCipherModeGCM}
	streams := func() int {
		ts.srv.h.streams.mu.Lock()
		defer ts.srv.h.streams.mu.Unlock()
		return len(ts.srv.h.streams.m)
	}
	for _, v := range testVersions {
		t.Run(v.String(), func(t *testing.T) {
			id := createKey(t, c, v, aDate(attrActivationDate, time.Now().Add(-time.Hour)),
				aUsageLimits(50, kmip14.UsageLimitsUnitByte))
			usage := func() string {
				return usageLimitsOf(mustSucceed(t, do(t, c, v, kmip14.OperationGetAttributes, getNamed(v, id, attrUsageLimits))).ResponsePayload)
			}
			undone := func(part cryptPayload) {
				t.Helper()
				m := roundTrip(t, c, encodeRequest(t, v, reqOpts{onError: kmip14.BatchErrorContinuationOptionUndo},
					testItem{op: kmip14.OperationEncrypt, payload: part.enc},
					testItem{op: kmip14.OperationGet, payload: idOnly("missing")}))
				if m.BatchItem[0].ResultStatus != kmip14.ResultStatusOperationUndone {
					t.Fatalf("part: %s %q", m.BatchItem[0].ResultStatus, m.BatchItem[0].ResultMessage)
				}
			}
			open := streams()
			undone(cryptPayload{id: id, params: gcm, data: make([]byte, 20), init: true})
			if got := usage(); got != "50/50/1" || streams() != open {
				t.Errorf("after an undone first part: %q, %d streams open, want 50/50/1, %d", got, streams(), open)
			}
			it := mustSucceed(t, do(t, c, v, kmip14.OperationEncrypt, cryptPayload{id: id, params: gcm, data: make([]byte, 20), init: true}.enc))
			cv := payloadBytes(it.ResponsePayload)[kmip14.TagCorrelationValue]
			undone(cryptPayload{id: id, params: gcm, data: make([]byte, 10), correlationVal: cv})
			if got := usage(); got != "50/30/1" {
				t.Errorf("after an undone later part: %q, want 50/30/1", got)
			}
			mustFail(t, do(t, c, v, kmip14.OperationEncrypt, cryptPayload{id: id, params: gcm, data: make([]byte, 10), correlationVal: cv, final: true}.enc),
				kmip14.ResultReasonItemNotFound)
		})
	}
}
