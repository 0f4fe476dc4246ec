package kmip

import (
	"slices"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"
)

// vendorIdentification is the Vendor Identification of Query Server
// Information.
const vendorIdentification = "s3kms"

// objectTypes are the managed object types the server handles.
var objectTypes = []kmip14.ObjectType{
	kmip14.ObjectTypeSymmetricKey, kmip14.ObjectTypeSecretData, kmip14.ObjectTypeOpaqueObject,
}

// query answers Query. Query Functions the server has nothing to report
// for (Extension List and Map, Application Namespaces, Attestation
// Types, RNGs, Validations, Profiles, Capabilities, Client Registration
// Methods) contribute nothing, as KMIP allows; the Extension Map is empty
// since the server defines no extension tags.
func (h *handler) query(c call) (encodeFunc, error) {
	fns := map[kmip14.QueryFunction]bool{}
	for _, n := range c.payload.children(kmip14.TagQueryFunction) {
		f, err := n.enum()
		if err != nil {
			return nil, errorf(kmip14.ResultReasonInvalidField, "a Query Function is not an Enumeration")
		}
		fns[kmip14.QueryFunction(f)] = true
	}
	if len(fns) == 0 {
		return nil, errorf(kmip14.ResultReasonInvalidField, "Query needs at least one Query Function")
	}
	return func(e *ttlv.Encoder) error {
		if fns[kmip14.QueryFunctionQueryOperations] {
			for _, op := range h.supportedOperations() {
				e.EncodeEnumeration(kmip14.TagOperation, uint32(op))
			}
		}
		if fns[kmip14.QueryFunctionQueryObjects] {
			for _, t := range objectTypes {
				e.EncodeEnumeration(kmip14.TagObjectType, uint32(t))
			}
		}
		if fns[kmip14.QueryFunctionQueryServerInformation] {
			e.EncodeTextString(kmip14.TagVendorIdentification, vendorIdentification)
		}
		return nil
	}, nil
}

// supportedOperations lists the operation table's rows in a stable order.
func (h *handler) supportedOperations() []kmip14.Operation {
	ops := make([]kmip14.Operation, 0, len(h.ops))
	for op, row := range h.ops {
		if row.unlisted {
			continue
		}
		ops = append(ops, op)
	}
	slices.Sort(ops)
	return ops
}
