//go:build cgo

package pkcs11

import p11 "github.com/miekg/pkcs11"

// Every object gets a complete template: nothing is left to token
// defaults, which differ between HSMs.

// secretSession is the part shared by every root session object: a
// private, sensitive generic secret that lives in the session only
// (CKA_TOKEN false, so it is gone when the session closes and never
// touches the token's storage).
func secretSession(extractable, sign bool) []*p11.Attribute {
	return []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_GENERIC_SECRET),
		p11.NewAttribute(p11.CKA_TOKEN, false),
		p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_SENSITIVE, true),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, extractable),
		p11.NewAttribute(p11.CKA_SIGN, sign),
		p11.NewAttribute(p11.CKA_VERIFY, false),
		p11.NewAttribute(p11.CKA_ENCRYPT, false),
		p11.NewAttribute(p11.CKA_DECRYPT, false),
		p11.NewAttribute(p11.CKA_WRAP, false),
		p11.NewAttribute(p11.CKA_UNWRAP, false),
		p11.NewAttribute(p11.CKA_DERIVE, false),
	}
}

// generateTemplate is a new root: 32 bytes, extractable only so that
// C_WrapKey can wrap it (CKA_SENSITIVE keeps it from leaving in clear),
// good for nothing else.
func generateTemplate() []*p11.Attribute {
	return append(secretSession(true, false), p11.NewAttribute(p11.CKA_VALUE_LEN, rootKeySize))
}

// rootTemplate is an opened root: not extractable at all, HMAC only.
// CKA_VALUE_LEN comes from the unwrapped data (SoftHSM refuses it in an
// unwrap template with CKR_ATTRIBUTE_READ_ONLY).
func rootTemplate() []*p11.Attribute { return secretSession(false, true) }

// rewrapTemplate is a root opened to be wrapped again under a new master:
// extractable only under wrapping, no HMAC.
func rewrapTemplate() []*p11.Attribute { return secretSession(true, false) }

// materialTemplate is KMIP key material imported to be wrapped under the
// master: a sensitive session object, extractable only so that C_WrapKey
// can wrap it, good for nothing else. The material was in clear in Go
// before (it was generated or imported there): only roots never leave
// the HSM.
func materialTemplate(plain []byte) []*p11.Attribute {
	return append(secretSession(true, false), p11.NewAttribute(p11.CKA_VALUE, plain))
}

// openMaterialTemplate is KMIP key material unwrapped to be read back:
// not sensitive and extractable, so that C_GetAttributeValue returns
// CKA_VALUE; good for nothing else. The object is destroyed right after.
func openMaterialTemplate() []*p11.Attribute {
	t := secretSession(true, false)
	for i, a := range t {
		if a.Type == p11.CKA_SENSITIVE {
			t[i] = p11.NewAttribute(p11.CKA_SENSITIVE, false)
		}
	}
	return t
}
