package kms

import (
	"regexp"
	"time"
)

// State is a key's lifecycle state. The values and transitions follow KMIP
// (KMIP 1.4 section 3.22): a key is created Pre-Active or Active, may be
// Deactivated or Compromised, and ends Destroyed.
type State string

// Key states.
const (
	StatePreActive   State = "pre-active"
	StateActive      State = "active"
	StateDeactivated State = "deactivated"
	StateCompromised State = "compromised"
	StateDestroyed   State = "destroyed"
)

// Valid reports whether s is one of the defined states.
func (s State) Valid() bool {
	switch s {
	case StatePreActive, StateActive, StateDeactivated, StateCompromised, StateDestroyed:
		return true
	}
	return false
}

// Purpose says what a key is for.
type Purpose string

// Key purposes.
const (
	// PurposeBucketRoot is the per-bucket root key of SSE-S3. Never exportable.
	PurposeBucketRoot Purpose = "bucket-root"
	// PurposeNamed is a named key: an SSE-KMS key id or a KMIP-managed key.
	PurposeNamed Purpose = "named"
	// PurposeMaterial is a key whose versions hold symmetric key material
	// (a KMIP Symmetric Key: AES or 3DES of Attributes.Algorithm and
	// Attributes.Length) wrapped by a MaterialProtector, instead of a
	// root. It cannot seal data keys (SSE) and has no KDF; see
	// Service.ExportKey.
	PurposeMaterial Purpose = "material"
)

// Valid reports whether p is one of the defined purposes.
func (p Purpose) Valid() bool {
	return p == PurposeBucketRoot || p == PurposeNamed || p == PurposeMaterial
}

// Key is a key in the registry. Its material lives only in its versions,
// wrapped under the master key by a Protector.
type Key struct {
	ID         string
	Purpose    Purpose
	Exportable bool
	State      State
	// Enabled is the AWS-style switch: a disabled key refuses every
	// cryptographic operation but keeps its state and versions.
	Enabled bool
	// CurrentVersion is the version new data keys are sealed under.
	CurrentVersion int
	Description    string
	// Owner is the identity that created the key.
	Owner     string
	CreatedAt time.Time
	UpdatedAt time.Time
	// DeletionDate is set while a deletion is scheduled: at that time the
	// key is destroyed. A key pending deletion refuses cryptographic use.
	DeletionDate *time.Time
	// Revision increases on every update; KeyStore.UpdateKey compares it
	// to detect concurrent updates.
	Revision int64
	// Attributes are the KMIP attributes the registry keeps for KMIP
	// clients. Set at creation, changed by Service.UpdateAttributes and
	// the lifecycle methods; KeyStore.UpdateKey stores them.
	Attributes Attributes
	// RotationPeriod is the period of automatic rotation, in whole
	// seconds; 0 when it is off. NextRotation is when the rotation loop
	// (Service.RotateDue) rotates the key next; nil when off.
	RotationPeriod time.Duration
	NextRotation   *time.Time
}

// Attributes are a key's KMIP attributes that the registry does not model
// itself. The kms package stores them and never interprets them.
type Attributes struct {
	// Names are the key's Name attribute values (text strings).
	Names []string `json:"names,omitempty"`
	// ObjectGroups are its Object Group values.
	ObjectGroups []string `json:"object_groups,omitempty"`
	// Algorithm is the Cryptographic Algorithm's KMIP enumeration name
	// ("AES"); Length its Cryptographic Length in bits.
	Algorithm string `json:"algorithm,omitempty"`
	Length    int    `json:"length,omitempty"`
	// UsageMask is the Cryptographic Usage Mask.
	UsageMask int32 `json:"usage_mask,omitempty"`
	// Custom holds custom attributes ("x-…") as text.
	Custom map[string]string `json:"custom,omitempty"`
	// Params is the Cryptographic Parameters attribute of a
	// PurposeMaterial key: the defaults of Encrypt, Decrypt and MAC
	// requests (see CryptoParams). nil when the key has none.
	Params *CryptoParams `json:"params,omitempty"`
	// ProcessStartDate and ProtectStopDate are the KMIP attributes of
	// those names: before the first a PurposeMaterial key does not
	// decrypt or verify, from the second on it does not encrypt or MAC.
	ProcessStartDate *time.Time `json:"process_start_date,omitempty"`
	ProtectStopDate  *time.Time `json:"protect_stop_date,omitempty"`
	// UsageLimits are the KMIP Usage Limits of a PurposeMaterial key:
	// set at creation, consumed by EncryptData and MAC. nil: no limits.
	UsageLimits *UsageLimits `json:"usage_limits,omitempty"`

	// ObjectType is the KMIP Object Type name of a PurposeMaterial key:
	// ObjectSymmetricKey (also when empty), ObjectSecretData or
	// ObjectOpaque. The last two hold variable-length values (see
	// Service.CreateKey) and are never roots.
	ObjectType string `json:"object_type,omitempty"`
	// DataType is the Secret Data Type or Opaque Data Type of secret
	// data and opaque objects, as the KMIP layer names it.
	DataType string `json:"data_type,omitempty"`
	// KeyFormat is the KMIP Key Format Type name a symmetric key was
	// registered in ("" for created keys: Raw).
	KeyFormat string `json:"key_format,omitempty"`
	// Digest is the hex SHA-256 of the material of a PurposeMaterial
	// key (KMIP Digest); set by CreateKey, ignored in requests.
	Digest string `json:"digest,omitempty"`
	// Fresh is KMIP's Fresh of a PurposeMaterial key: true from its
	// creation until its material is first returned to a client
	// (ExportKey), then false for good. Set by CreateKey and ExportKey,
	// ignored in requests; nil for keys made before it was recorded.
	Fresh *bool `json:"fresh,omitempty"`
	// Generated is set by CreateKey on PurposeMaterial keys whose
	// material the Service generated (from its random source) rather
	// than imported; ignored in requests.
	Generated bool `json:"generated,omitempty"`

	// Lifecycle and client-managed attributes (KMIP 1.4 section 3). The
	// lifecycle dates are recorded by the Service's state changes
	// (SetState, Transition, DestroyKey); the rest by UpdateAttributes.
	Lifecycle
}

// Lifecycle are the KMIP lifecycle attributes of a key and the other
// client-managed attributes that are not plain text.
type Lifecycle struct {
	// ActivationDate is when the key became (or becomes) Active.
	ActivationDate *time.Time `json:"activation_date,omitempty"`
	// DeactivationDate is when it was deactivated (revoked, or after
	// its Compromise).
	DeactivationDate *time.Time `json:"deactivation_date,omitempty"`
	// CompromiseOccurrenceDate is when the client says the compromise
	// happened; CompromiseDate when the key was marked Compromised.
	CompromiseOccurrenceDate *time.Time `json:"compromise_occurrence_date,omitempty"`
	CompromiseDate           *time.Time `json:"compromise_date,omitempty"`
	// DestroyDate is when the key was destroyed.
	DestroyDate *time.Time `json:"destroy_date,omitempty"`
	// RevocationReason is the reason given at revocation (the KMIP
	// Revocation Reason Code's enumeration value) and its optional
	// message.
	RevocationReason *RevocationReason `json:"revocation_reason,omitempty"`
	// Links are the key's Link attributes, in order.
	Links []Link `json:"links,omitempty"`
	// ContactInformation is the Contact Information attribute.
	ContactInformation string `json:"contact_information,omitempty"`
	// AlternativeNames are the key's Alternative Name attributes, in
	// order.
	AlternativeNames []AlternativeName `json:"alternative_names,omitempty"`
	// AppInfo are its Application Specific Information attributes, in
	// order.
	AppInfo []AppInfo `json:"app_info,omitempty"`
	// CustomTyped holds custom attributes whose value is not a Text
	// String (Integer, Long Integer, Boolean, Date-Time, Enumeration,
	// Byte String…), by name.
	CustomTyped map[string]TypedValue `json:"custom_typed,omitempty"`
}

// RevocationReason is a KMIP Revocation Reason.
type RevocationReason struct {
	Code    uint32 `json:"code"`
	Message string `json:"message,omitempty"`
}

// AlternativeName is a KMIP Alternative Name: a value and its Alternative
// Name Type (enumeration value).
type AlternativeName struct {
	Value string `json:"value"`
	Type  uint32 `json:"type"`
}

// AppInfo is a KMIP Application Specific Information: an Application
// Namespace and its optional Application Data.
type AppInfo struct {
	Namespace string `json:"namespace"`
	Data      string `json:"data,omitempty"`
}

// Link is a KMIP Link: a Link Type (enumeration value) and the Unique
// Identifier of the linked object.
type Link struct {
	Type     uint32 `json:"type"`
	ObjectID string `json:"object_id"`
}

// TypedValue is a custom attribute value that is not text: its TTLV type
// name ("Integer", "DateTime"…) and its encoded TTLV value bytes in
// hexadecimal, as the KMIP adapter received them.
type TypedValue struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// KMIP object types of PurposeMaterial keys (Attributes.ObjectType).
const (
	ObjectSymmetricKey = "SymmetricKey"
	ObjectSecretData   = "SecretData"
	ObjectOpaque       = "OpaqueObject"
)

// variableLength reports whether a holds a variable-length value
// (secret data, opaque object) rather than symmetric key material.
func (a Attributes) variableLength() bool {
	return a.ObjectType == ObjectSecretData || a.ObjectType == ObjectOpaque
}

// MaxAttributesLen bounds the encoded size of a key's Attributes.
const MaxAttributesLen = 16 << 10

// PendingDeletion reports whether a deletion is scheduled.
func (k *Key) PendingDeletion() bool { return k.DeletionDate != nil }

// KeyVersion is one version of a key's root material.
type KeyVersion struct {
	KeyID   string
	Version int
	// Wrapped is the root material wrapped by the protector named in
	// Protector under the master key MasterKeyID. Empty once destroyed.
	Wrapped     []byte
	Protector   string
	MasterKeyID string
	CreatedAt   time.Time
	// DestroyedAt is set once the version's material has been destroyed.
	DestroyedAt *time.Time
	// State is StateActive, StateDeactivated or StateDestroyed (see
	// Service.SetVersionState). The empty state reads as active.
	State State
}

// VersionState returns v's state, StateActive when unset.
func (v KeyVersion) VersionState() State {
	switch {
	case v.DestroyedAt != nil:
		return StateDestroyed
	case v.State == "":
		return StateActive
	}
	return v.State
}

// Key ids are ASCII: letters, digits and ". _ - : /", 1 to 250 bytes, not
// starting or ending with "/", no "//". Bucket root keys are "bucket/<id>".
var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]+(/[A-Za-z0-9._:-]+)*$`)

// MaxKeyIDLen is the longest key id accepted.
const MaxKeyIDLen = 250

// ValidKeyID reports whether id is a syntactically valid key id.
func ValidKeyID(id string) bool {
	return len(id) > 0 && len(id) <= MaxKeyIDLen && keyIDPattern.MatchString(id)
}

// BucketKeyID returns the id of the root key of the bucket with the given
// internal id.
func BucketKeyID(bucketID string) string { return "bucket/" + bucketID }
