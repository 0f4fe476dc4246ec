package kmip

import (
	"fmt"
	"strings"
	"time"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"

	"github.com/s3kms/s3kms/kms"
)

// The attributes the server knows, by KMIP 1.x name and by tag (the KMIP
// 2.0 form, where an attribute is a value tagged with its own tag inside
// an Attributes structure, and Attribute References are those tags).
const (
	attrUniqueIdentifier = "Unique Identifier"
	attrObjectType       = "Object Type"
	attrAlgorithm        = "Cryptographic Algorithm"
	attrLength           = "Cryptographic Length"
	attrUsageMask        = "Cryptographic Usage Mask"
	attrState            = "State"
	attrName             = "Name"
	attrObjectGroup      = "Object Group"
	attrInitialDate      = "Initial Date"
	attrLastChangeDate   = "Last Change Date"
	attrActivationDate   = "Activation Date"
	attrCryptoParams     = "Cryptographic Parameters"
	attrProcessStartDate = "Process Start Date"
	attrProtectStopDate  = "Protect Stop Date"
	attrDigest           = "Digest"
	attrExtractable      = "Extractable"
	attrSensitive        = "Sensitive"
	attrAlwaysSensitive  = "Always Sensitive"
	attrNeverExtractable = "Never Extractable"
	attrOriginalCreation = "Original Creation Date"

	attrDeactivationDate         = "Deactivation Date"
	attrCompromiseOccurrenceDate = "Compromise Occurrence Date"
	attrCompromiseDate           = "Compromise Date"
	attrDestroyDate              = "Destroy Date"
	attrRevocationReason         = "Revocation Reason"
	attrLink                     = "Link"
	attrContactInformation       = "Contact Information"
	attrUsageLimits              = "Usage Limits"
)

var attrTags = map[string]ttlv.Tag{
	attrUniqueIdentifier: kmip14.TagUniqueIdentifier,
	attrObjectType:       kmip14.TagObjectType,
	attrAlgorithm:        kmip14.TagCryptographicAlgorithm,
	attrLength:           kmip14.TagCryptographicLength,
	attrUsageMask:        kmip14.TagCryptographicUsageMask,
	attrState:            kmip14.TagState,
	attrName:             kmip14.TagName,
	attrObjectGroup:      kmip14.TagObjectGroup,
	attrInitialDate:      kmip14.TagInitialDate,
	attrLastChangeDate:   kmip14.TagLastChangeDate,
	attrActivationDate:   kmip14.TagActivationDate,
	attrCryptoParams:     kmip14.TagCryptographicParameters,
	attrProcessStartDate: kmip14.TagProcessStartDate,
	attrProtectStopDate:  kmip14.TagProtectStopDate,
	attrDigest:           kmip14.TagDigest,
	attrExtractable:      kmip14.TagExtractable,
	attrSensitive:        kmip14.TagSensitive,
	attrAlwaysSensitive:  kmip14.TagAlwaysSensitive,
	attrNeverExtractable: kmip14.TagNeverExtractable,
	attrOriginalCreation: kmip14.TagOriginalCreationDate,

	attrDeactivationDate:         kmip14.TagDeactivationDate,
	attrCompromiseOccurrenceDate: kmip14.TagCompromiseOccurrenceDate,
	attrCompromiseDate:           kmip14.TagCompromiseDate,
	attrDestroyDate:              kmip14.TagDestroyDate,
	attrRevocationReason:         kmip14.TagRevocationReason,
	attrLink:                     kmip14.TagLink,
	attrContactInformation:       kmip14.TagContactInformation,

	attrAlternativeName: kmip14.TagAlternativeName,
	attrAppInfo:         kmip14.TagApplicationSpecificInformation,
	attrFresh:           kmip14.TagFresh,
	attrLeaseTime:       kmip14.TagLeaseTime,
	attrRNG:             kmip14.TagRandomNumberGenerator,
	attrUsageLimits:     kmip14.TagUsageLimits,
}

// attrNameOf returns the KMIP 1.x name of the attribute with tag t.
func attrNameOf(t ttlv.Tag) (string, bool) {
	for name, tag := range attrTags {
		if tag == t {
			return name, true
		}
	}
	return "", false
}

// isCustom reports whether name is a client custom attribute name.
func isCustom(name string) bool {
	return strings.HasPrefix(name, "x-") || strings.HasPrefix(name, "y-")
}

// attr is one attribute of a request: its 1.x name and its value (the
// Attribute Value of 1.x, or the tagged value of 2.0).
type attr struct {
	name  string
	value node
}

// requestAttributes returns the attributes of a request payload: the
// Attribute structures of 1.x (directly in the payload, or in its
// Template-Attribute when template is true) or the Attributes structure
// of 2.0.
func requestAttributes(c call, template bool) ([]attr, error) {
	if c.version.major >= 2 {
		as, ok := c.payload.child(tagAttributes)
		if !ok {
			return nil, nil
		}
		if as.structure() != nil {
			return nil, errorf(kmip14.ResultReasonInvalidField, "Attributes is not a structure")
		}
		var out []attr
		for _, k := range as.kids {
			a, err := taggedAttribute(k)
			if err != nil {
				return nil, err
			}
			out = append(out, a)
		}
		return out, nil
	}
	holder := c.payload
	if template {
		ta, ok := c.payload.child(kmip14.TagTemplateAttribute)
		if !ok {
			return nil, nil
		}
		if ta.structure() != nil {
			return nil, errorf(kmip14.ResultReasonInvalidField, "Template-Attribute is not a structure")
		}
		if _, ok := ta.child(kmip14.TagName); ok {
			return nil, errorf(kmip14.ResultReasonInvalidField, "templates are not supported")
		}
		holder = ta
	}
	var out []attr
	for _, a := range holder.children(kmip14.TagAttribute) {
		if a.structure() != nil {
			return nil, errorf(kmip14.ResultReasonInvalidField, "an Attribute is not a structure")
		}
		nn, ok1 := a.child(kmip14.TagAttributeName)
		val, ok2 := a.child(kmip14.TagAttributeValue)
		name, err := nn.text()
		if !ok1 || !ok2 || err != nil {
			return nil, errorf(kmip14.ResultReasonInvalidField, "an Attribute lacks its name or value")
		}
		out = append(out, attr{name: name, value: val})
	}
	return out, nil
}

// taggedAttribute reads one KMIP 2.0 attribute: a value tagged with the
// attribute's tag, or a Vendor Attribute (Vendor Identification,
// Attribute Name, Attribute Value). Vendor attributes of the client
// vendors "x" and "y" are the 1.x custom attributes "x-Name"/"y-Name";
// other vendors are refused.
func taggedAttribute(k node) (attr, error) {
	if k.tag == tagVendorAttribute {
		if k.structure() != nil {
			return attr{}, fieldError("a Vendor Attribute is not a structure")
		}
		vn, ok1 := k.child(kmip14.TagVendorIdentification)
		an, ok2 := k.child(kmip14.TagAttributeName)
		val, ok3 := k.child(kmip14.TagAttributeValue)
		vendor, err1 := vn.text()
		name, err2 := an.text()
		if !ok1 || !ok2 || !ok3 || err1 != nil || err2 != nil || name == "" {
			return attr{}, fieldError("a Vendor Attribute lacks its Vendor Identification, Attribute Name or Attribute Value")
		}
		if vendor != "x" && vendor != "y" {
			return attr{}, errorf(resultReasonUnsupportedAttribute, "vendor attributes of vendor %q are not supported (client attributes use \"x\" or \"y\")", vendor)
		}
		return attr{name: vendor + "-" + name, value: val}, nil
	}
	name, ok := attrNameOf(k.tag)
	if !ok {
		return attr{}, errorf(kmip14.ResultReasonInvalidField, "attribute %s is not supported", k.tag)
	}
	return attr{name: name, value: k}, nil
}

// nameValue returns the Name Value of a Name attribute value.
func nameValue(n node) (string, error) {
	if n.structure() != nil {
		return "", errorf(kmip14.ResultReasonInvalidField, "a Name is not a structure")
	}
	v, ok := n.child(kmip14.TagNameValue)
	s, err := v.text()
	if !ok || err != nil || s == "" {
		return "", errorf(kmip14.ResultReasonInvalidField, "a Name has no Name Value")
	}
	if t, ok := n.child(kmip14.TagNameType); ok {
		if e, err := t.enum(); err != nil || kmip14.NameType(e) != kmip14.NameTypeUninterpretedTextString {
			return "", errorf(kmip14.ResultReasonInvalidField, "only Names of type Uninterpreted Text String are supported")
		}
	}
	return s, nil
}

func textValue(a attr) (string, error) {
	s, err := a.value.text()
	if err != nil {
		return "", errorf(kmip14.ResultReasonInvalidField, "%s is not a Text String", a.name)
	}
	return s, nil
}

func enumValue(a attr) (uint32, error) {
	e, err := a.value.enum()
	if err != nil {
		return 0, errorf(kmip14.ResultReasonInvalidField, "%s is not an Enumeration", a.name)
	}
	return e, nil
}

func intValue(a attr) (int32, error) {
	i, err := a.value.integer()
	if err != nil {
		return 0, errorf(kmip14.ResultReasonInvalidField, "%s is not an Integer", a.name)
	}
	return i, nil
}

// kmipState is the KMIP State of a kms key state.
func kmipState(s kms.State) kmip14.State {
	switch s {
	case kms.StatePreActive:
		return kmip14.StatePreActive
	case kms.StateActive:
		return kmip14.StateActive
	case kms.StateDeactivated:
		return kmip14.StateDeactivated
	case kms.StateCompromised:
		return kmip14.StateCompromised
	default:
		return kmip14.StateDestroyed
	}
}

// keyAlgorithm and keyLength describe every named key: kms roots are
// 256-bit AES keys, whatever interface created them.
const (
	keyAlgorithm = kmip14.CryptographicAlgorithmAES
	keyLength    = 256
)

// outAttr is one attribute of a response. index is its Attribute Index
// (1.x) among the values of the same name.
type outAttr struct {
	name  string
	index int32
	enc   func(e *ttlv.Encoder, tag ttlv.Tag)
	// named attributes are returned by Get Attributes only when asked
	// for by name (and always listed by Get Attribute List): clients
	// such as PyKMIP fail on a response that holds them.
	named bool
}

// keyAttributes lists the attributes of k, in a fixed order.
func keyAttributes(k kms.Key) []outAttr {
	enumAttr := func(name string, v uint32) outAttr {
		return outAttr{name: name, enc: func(e *ttlv.Encoder, tag ttlv.Tag) { e.EncodeEnumeration(tag, v) }}
	}
	intAttr := func(name string, v int32) outAttr {
		return outAttr{name: name, enc: func(e *ttlv.Encoder, tag ttlv.Tag) { e.EncodeInteger(tag, v) }}
	}
	textAttr := func(name string, index int32, v string) outAttr {
		return outAttr{name: name, index: index, enc: func(e *ttlv.Encoder, tag ttlv.Tag) { e.EncodeTextString(tag, v) }}
	}
	dateAttr := func(name string, v time.Time) outAttr {
		return outAttr{name: name, enc: func(e *ttlv.Encoder, tag ttlv.Tag) { e.EncodeDateTime(tag, v) }}
	}
	out := append([]outAttr{textAttr(attrUniqueIdentifier, 0, k.ID)}, objectAttrs(k)...)
	if k.Attributes.UsageMask != 0 {
		out = append(out, intAttr(attrUsageMask, k.Attributes.UsageMask))
	}
	out = append(out, enumAttr(attrState, uint32(kmipState(k.State))))
	for i, n := range k.Attributes.Names {
		out = append(out, outAttr{name: attrName, index: int32(i), enc: func(e *ttlv.Encoder, tag ttlv.Tag) {
			_ = e.EncodeStructure(tag, func(e *ttlv.Encoder) error {
				e.EncodeTextString(kmip14.TagNameValue, n)
				e.EncodeEnumeration(kmip14.TagNameType, uint32(kmip14.NameTypeUninterpretedTextString))
				return nil
			})
		}})
	}
	for i, g := range k.Attributes.ObjectGroups {
		out = append(out, textAttr(attrObjectGroup, int32(i), g))
	}
	out = append(out, dateAttr(attrInitialDate, k.CreatedAt), dateAttr(attrLastChangeDate, k.UpdatedAt))
	out = append(out, materialAttrs(k)...)
	out = append(out, serverAttrs(k)...)
	out = append(out, clientInfoAttrs(k)...)
	out = append(out, lifecycleAttributes(k.Attributes)...)
	for _, name := range customNames(k.Attributes) {
		out = append(out, customAttr(k.Attributes, name))
	}
	return out
}

// encodeAttributes writes attrs in version v's form: Attribute structures
// (1.x) or one Attributes structure (2.0, where custom attributes are
// Vendor Attributes).
func encodeAttributes(e *ttlv.Encoder, v version, attrs []outAttr) error {
	if v.major >= 2 {
		return e.EncodeStructure(tagAttributes, func(e *ttlv.Encoder) error {
			for _, a := range attrs {
				encodeTagged(e, a)
			}
			return nil
		})
	}
	for _, a := range attrs {
		if !inVersion(a.name, v) {
			continue
		}
		if err := e.EncodeStructure(kmip14.TagAttribute, func(e *ttlv.Encoder) error {
			e.EncodeTextString(kmip14.TagAttributeName, a.name)
			if a.index > 0 {
				e.EncodeInteger(kmip14.TagAttributeIndex, a.index)
			}
			a.enc(e, kmip14.TagAttributeValue)
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

func fieldError(format string, args ...any) *Error {
	return &Error{Reason: kmip14.ResultReasonInvalidField, Message: fmt.Sprintf(format, args...)}
}

// KMIP 2.0 values kmip14 lacks. (kmip-go's kmip20 package would bring
// in its client and server layers.)
const (
	tagAttributes                      ttlv.Tag            = 0x420125
	tagAttributeReference              ttlv.Tag            = 0x42013b
	resultReasonWrongKeyLifecycleState kmip14.ResultReason = 0x00000043

	tagCurrentAttribute ttlv.Tag = 0x42013c
	tagNewAttribute     ttlv.Tag = 0x42013d
	// tagVendorAttribute is KMIP 2.0's Vendor Attribute: the 1.x
	// Attribute tag, with a Vendor Identification.
	tagVendorAttribute ttlv.Tag = 0x420008

	resultReasonUnsupportedAttribute      kmip14.ResultReason = 0x0000001f
	resultReasonAttributeInstanceNotFound kmip14.ResultReason = 0x00000020
	resultReasonAttributeNotFound         kmip14.ResultReason = 0x00000021
	resultReasonAttributeReadOnly         kmip14.ResultReason = 0x00000022
	resultReasonAttributeSingleValued     kmip14.ResultReason = 0x00000023
	resultReasonNonUniqueNameAttribute    kmip14.ResultReason = 0x00000035
)
