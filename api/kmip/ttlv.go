package kmip

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/gemalto/kmip-go/ttlv"
)

// maxDepth bounds the nesting of Structures in a request. KMIP messages
// nest a handful of levels (message, batch item, payload, attribute,
// key block, key value…); 32 leaves room for any real request while
// keeping the walk's recursion small.
const maxDepth = 32

// headerLen is the length of a TTLV header: 3 bytes tag, 1 byte type, 4
// bytes length.
const headerLen = 8

// node is one decoded TTLV value. Structures hold their children in kids;
// every other type holds its value bytes (without padding) in val.
//
// We walk requests with our own bounded parser instead of ttlv.TTLV.Valid
// and ttlv.TTLV.Next: those re-validate a Structure's children once for
// Valid and once more for every Next, which doubles the work at each
// nesting level (2^depth for a chain of nested Structures), and the
// reflection-based ttlv.Unmarshal accepts whatever shape it is given. The
// header checks themselves are kmip-go's (ttlv.TTLV.ValidHeader).
type node struct {
	tag  ttlv.Tag
	typ  ttlv.Type
	val  []byte
	kids []node
}

// parseTTLV decodes b, which must hold exactly one TTLV value.
func parseTTLV(b []byte) (node, error) {
	nodes, err := parseSeq(b, 0)
	if err != nil {
		return node{}, err
	}
	if len(nodes) != 1 {
		return node{}, fmt.Errorf("expected one TTLV value, found %d", len(nodes))
	}
	return nodes[0], nil
}

// parseSeq decodes the concatenated TTLV values in b.
func parseSeq(b []byte, depth int) ([]node, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("structures nested deeper than %d levels", maxDepth)
	}
	var out []node
	for len(b) > 0 {
		t := ttlv.TTLV(b)
		if err := t.ValidHeader(); err != nil {
			return nil, fmt.Errorf("invalid TTLV header: %w", err)
		}
		// FullLen cannot panic: ValidHeader accepted the type.
		full := t.FullLen()
		if full < headerLen || full > len(b) {
			return nil, fmt.Errorf("value of tag %s truncated", t.Tag())
		}
		n := node{tag: t.Tag(), typ: t.Type()}
		l := int(binary.BigEndian.Uint32(b[4:8]))
		val := b[headerLen : headerLen+l]
		if n.typ == ttlv.TypeStructure {
			kids, err := parseSeq(val, depth+1)
			if err != nil {
				return nil, err
			}
			n.kids = kids
		} else {
			n.val = val
		}
		out = append(out, n)
		b = b[full:]
	}
	return out, nil
}

// child returns the first child of n with the given tag.
func (n node) child(tag ttlv.Tag) (node, bool) {
	for _, k := range n.kids {
		if k.tag == tag {
			return k, true
		}
	}
	return node{}, false
}

// children returns all children of n with the given tag, in order.
func (n node) children(tag ttlv.Tag) []node {
	var out []node
	for _, k := range n.kids {
		if k.tag == tag {
			out = append(out, k)
		}
	}
	return out
}

func (n node) typeError(want ttlv.Type) error {
	return fmt.Errorf("%s: expected %s, found %s", n.tag, want, n.typ)
}

// integer returns the value of an Integer.
func (n node) integer() (int32, error) {
	if n.typ != ttlv.TypeInteger {
		return 0, n.typeError(ttlv.TypeInteger)
	}
	return int32(binary.BigEndian.Uint32(n.val)), nil
}

// enum returns the value of an Enumeration.
func (n node) enum() (uint32, error) {
	if n.typ != ttlv.TypeEnumeration {
		return 0, n.typeError(ttlv.TypeEnumeration)
	}
	return binary.BigEndian.Uint32(n.val), nil
}

// boolean returns the value of a Boolean. KMIP encodes true as 1 and false
// as 0 in 8 bytes; any other value is refused.
func (n node) boolean() (bool, error) {
	if n.typ != ttlv.TypeBoolean {
		return false, n.typeError(ttlv.TypeBoolean)
	}
	switch v := binary.BigEndian.Uint64(n.val); v {
	case 0:
		return false, nil
	case 1:
		return true, nil
	default:
		return false, fmt.Errorf("%s: invalid Boolean value %d", n.tag, v)
	}
}

// structure checks that n is a Structure.
func (n node) structure() error {
	if n.typ != ttlv.TypeStructure {
		return n.typeError(ttlv.TypeStructure)
	}
	return nil
}

// text returns the value of a Text String.
func (n node) text() (string, error) {
	if n.typ != ttlv.TypeTextString {
		return "", n.typeError(ttlv.TypeTextString)
	}
	return string(n.val), nil
}

// dateTime returns the value of a Date-Time.
func (n node) dateTime() (time.Time, error) {
	if n.typ != ttlv.TypeDateTime {
		return time.Time{}, n.typeError(ttlv.TypeDateTime)
	}
	return time.Unix(int64(binary.BigEndian.Uint64(n.val)), 0).UTC(), nil
}
