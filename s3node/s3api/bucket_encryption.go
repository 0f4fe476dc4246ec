package s3api

import (
	"encoding/xml"
	"net/http"
	"slices"

	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/s3err"
)

// algorithmDSSE is the SSEAlgorithm value of dual-layer SSE-KMS, which
// S3 knows but this node does not offer.
const algorithmDSSE = "aws:kms:dsse"

// errKeyIDNotApplicable is AWS's answer to a KMSMasterKeyID next to
// SSEAlgorithm AES256 (SSE-SPEC §4.3, Appendix B).
const errKeyIDNotApplicable = "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse"

// sseConfigIn is a PutBucketEncryption request document. Every element
// is read as a list so that repeated elements, which the schema forbids,
// can be told apart from single ones (encoding/xml keeps only the last).
type sseConfigIn struct {
	XMLName xml.Name    `xml:"ServerSideEncryptionConfiguration"`
	Rules   []sseRuleIn `xml:"Rule"`
}

// sseRuleIn is one Rule of sseConfigIn.
type sseRuleIn struct {
	Default          []sseDefaultIn `xml:"ApplyServerSideEncryptionByDefault"`
	BucketKeyEnabled []string       `xml:"BucketKeyEnabled"`
	Blocked          []sseBlockedIn `xml:"BlockedEncryptionTypes"`
}

// sseDefaultIn is the ApplyServerSideEncryptionByDefault of sseRuleIn.
type sseDefaultIn struct {
	SSEAlgorithm   []string `xml:"SSEAlgorithm"`
	KMSMasterKeyID []string `xml:"KMSMasterKeyID"`
}

// sseBlockedIn is the BlockedEncryptionTypes of sseRuleIn.
type sseBlockedIn struct {
	Types []string `xml:"EncryptionType"`
}

// sseConfigOut is the GetBucketEncryption response document.
type sseConfigOut struct {
	XMLName xml.Name     `xml:"ServerSideEncryptionConfiguration"`
	NS      string       `xml:"xmlns,attr"`
	Rules   []sseRuleOut `xml:"Rule"`
}

// sseRuleOut is the one Rule of sseConfigOut.
type sseRuleOut struct {
	Default          sseDefaultOut  `xml:"ApplyServerSideEncryptionByDefault"`
	BucketKeyEnabled bool           `xml:"BucketKeyEnabled"`
	Blocked          *sseBlockedOut `xml:"BlockedEncryptionTypes"`
}

// sseDefaultOut is the ApplyServerSideEncryptionByDefault of sseRuleOut.
type sseDefaultOut struct {
	SSEAlgorithm   string `xml:"SSEAlgorithm"`
	KMSMasterKeyID string `xml:"KMSMasterKeyID,omitempty"`
}

// sseBlockedOut is the BlockedEncryptionTypes of sseRuleOut.
type sseBlockedOut struct {
	Types []string `xml:"EncryptionType"`
}

// singleValue returns the single value of a repeatable element: ok is
// false when it is repeated; "" and true when it is absent.
func singleValue(vs []string) (string, bool) {
	switch len(vs) {
	case 0:
		return "", true
	case 1:
		return vs[0], true
	}
	return "", false
}

// parseEncryptionConfig parses and validates a PutBucketEncryption
// document as SSE-SPEC §4.3 says: anything outside the schema (bad XML,
// not exactly one Rule, no ApplyServerSideEncryptionByDefault, an
// SSEAlgorithm outside the enum, an EncryptionType other than SSE-C or
// NONE, a BucketKeyEnabled other than true or false, a repeated element)
// is MalformedXML; aws:kms:dsse is NotImplemented; a KMSMasterKeyID with
// AES256 is InvalidArgument. A KMS key id is kept as given (id, ARN or
// alias; S3 does not check it here).
func parseEncryptionConfig(data []byte) (*s3node.EncryptionConfig, error) {
	var doc sseConfigIn
	if err := xml.Unmarshal(data, &doc); err != nil {
		e := s3err.New(s3err.MalformedXML)
		e.Err = err
		return nil, e
	}
	malformed := s3err.New(s3err.MalformedXML)
	if len(doc.Rules) != 1 {
		return nil, malformed
	}
	rule := doc.Rules[0]
	if len(rule.Default) != 1 || len(rule.Blocked) > 1 {
		return nil, malformed
	}
	alg, ok1 := singleValue(rule.Default[0].SSEAlgorithm)
	keyID, ok2 := singleValue(rule.Default[0].KMSMasterKeyID)
	bke, ok3 := singleValue(rule.BucketKeyEnabled)
	if !ok1 || !ok2 || !ok3 {
		return nil, malformed
	}
	cfg := &s3node.EncryptionConfig{SSEAlgorithm: alg, KMSMasterKeyID: keyID}
	switch bke {
	case "", "false":
	case "true":
		cfg.BucketKeyEnabled = true
	default:
		return nil, malformed
	}
	if len(rule.Blocked) == 1 {
		for _, t := range rule.Blocked[0].Types {
			if t != s3node.BlockSSEC && t != s3node.BlockNone {
				return nil, malformed
			}
			if !slices.Contains(cfg.BlockedTypes, t) {
				cfg.BlockedTypes = append(cfg.BlockedTypes, t)
			}
		}
		if len(cfg.BlockedTypes) > 1 {
			// NONE ("block nothing") next to SSE-C contradicts itself.
			return nil, s3err.Msg(s3err.InvalidArgument, "The encryption type NONE cannot be combined with other encryption types").
				With("ArgumentName", "BlockedEncryptionTypes")
		}
	}
	switch alg {
	case s3node.AlgorithmKMS:
	case s3node.AlgorithmAES256:
		if keyID != "" {
			return nil, s3err.Msg(s3err.InvalidArgument, errKeyIDNotApplicable).
				With("ArgumentName", "ApplyServerSideEncryptionByDefault")
		}
	case algorithmDSSE:
		return nil, s3err.Msg(s3err.NotImplemented, "Dual-layer server-side encryption with KMS keys (aws:kms:dsse) is not supported by this server; use aws:kms or AES256")
	default:
		return nil, malformed
	}
	return cfg, nil
}

// encryptionDoc renders c as GetBucketEncryption returns it.
func encryptionDoc(c *s3node.EncryptionConfig) sseConfigOut {
	rule := sseRuleOut{
		Default:          sseDefaultOut{SSEAlgorithm: c.SSEAlgorithm, KMSMasterKeyID: c.KMSMasterKeyID},
		BucketKeyEnabled: c.BucketKeyEnabled,
	}
	if len(c.BlockedTypes) > 0 {
		rule.Blocked = &sseBlockedOut{Types: c.BlockedTypes}
	}
	return sseConfigOut{NS: xmlNS, Rules: []sseRuleOut{rule}}
}

// bucketEncryption returns the default encryption of new objects in b:
// its configuration, else SSE-S3 in the AWS-2023 mode
// (Config.EncryptByDefault), else nil (no encryption unless requested).
// A stored configuration that does not parse is an internal error.
func (s *Server) bucketEncryption(b s3node.Bucket) (*s3node.EncryptionConfig, error) {
	c, err := s3node.ParseEncryptionConfig(b.Encryption)
	if err != nil {
		return nil, s3node.Wrap(s3node.EInternal, err, "bucket "+b.Name+": corrupt default-encryption configuration")
	}
	if c == nil && s.encryptByDefault {
		c = &s3node.EncryptionConfig{SSEAlgorithm: s3node.AlgorithmAES256}
	}
	return c, nil
}

// getBucketEncryption serves GetBucketEncryption: the bucket's
// configuration, the SSE-S3 default in the AWS-2023 mode, else
// ServerSideEncryptionConfigurationNotFoundError.
func (s *Server) getBucketEncryption(rq *request) (*response, error) {
	c, err := s.bucketEncryption(rq.bucket)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, s3err.New(s3err.ServerSideEncryptionConfigurationNotFoundError).With("BucketName", rq.bucketName)
	}
	return &response{doc: encryptionDoc(c)}, nil
}

// putBucketEncryption serves PutBucketEncryption (200, empty body). The
// body must carry an integrity header (Content-MD5 or x-amz-checksum-*),
// as AWS requires; the router has already answered NoSuchBucket for a
// missing bucket, whatever the body.
func (s *Server) putBucketEncryption(rq *request) (*response, error) {
	data, err := rq.readDeleteBody() // the checked-body reader of DeleteObjects
	if err != nil {
		return nil, err
	}
	c, err := parseEncryptionConfig(data)
	if err != nil {
		return nil, err
	}
	if err := s.meta.SetBucketEncryption(rq.r.Context(), rq.bucketName, s3node.MarshalEncryptionConfig(c)); err != nil {
		return nil, err
	}
	return &response{}, nil
}

// deleteBucketEncryption serves DeleteBucketEncryption: 204 whether or
// not the bucket had a configuration.
func (s *Server) deleteBucketEncryption(rq *request) (*response, error) {
	if err := s.meta.SetBucketEncryption(rq.r.Context(), rq.bucketName, nil); err != nil {
		return nil, err
	}
	return &response{status: http.StatusNoContent}, nil
}
