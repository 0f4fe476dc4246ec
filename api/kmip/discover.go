package kmip

import (
	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"
)

// discoverVersions answers Discover Versions: the server's versions,
// newest first, restricted to those the client lists when it lists any.
// It runs at any request version, since it is how a client finds one the
// server speaks.
func (h *handler) discoverVersions(c call) (encodeFunc, error) {
	var asked []version
	for _, n := range c.payload.children(kmip14.TagProtocolVersion) {
		if err := n.structure(); err != nil {
			return nil, errorf(kmip14.ResultReasonInvalidField, "a Protocol Version is not a structure")
		}
		v, err := decodeVersionStruct(n)
		if err != nil {
			return nil, errorf(kmip14.ResultReasonInvalidField, "invalid Protocol Version in the payload")
		}
		asked = append(asked, v)
	}
	var out []version
	for _, s := range supportedVersions {
		if len(asked) == 0 || contains(asked, s) {
			out = append(out, s)
		}
	}
	return func(e *ttlv.Encoder) error {
		for _, v := range out {
			encodeVersion(e, v)
		}
		return nil
	}, nil
}

func contains(vs []version, v version) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}
