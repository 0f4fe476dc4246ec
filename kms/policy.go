package kms

import (
	"fmt"
	"strings"
)

// Op is an operation a policy can allow.
type Op string

// Operations. OpAll in a rule allows every operation.
const (
	OpCreate   Op = "create"   // create a key
	OpRead     Op = "read"     // show and list keys
	OpRotate   Op = "rotate"   // add a root version; set the automatic rotation period
	OpEnable   Op = "enable"   // enable and disable
	OpState    Op = "state"    // activate, deactivate (KMIP lifecycle); activate and deactivate a root version
	OpDelete   Op = "delete"   // schedule and cancel deletion, destroy; destroy a root version (with "state")
	OpGenerate Op = "generate" // generate a data key
	OpDecrypt  Op = "decrypt"  // decrypt a sealed data key or payload
	OpRewrap   Op = "rewrap"   // re-seal under the current version
	OpEncrypt  Op = "encrypt"  // encrypt a small payload
	OpAudit    Op = "audit"    // read the audit log
	OpMaster   Op = "master"   // master-key status and rotation (needs the key pattern "*")
	OpExport   Op = "export"   // read an exportable key's material in clear (KMIP Get)
	// OpAttributes allows adding, modifying and deleting a key's KMIP
	// attributes (Name, Object Group, Link, custom x- attributes…).
	// Separate from "state": renaming or relinking a key is not a
	// lifecycle change, and "read" must not imply it.
	OpAttributes Op = "attributes"
	OpAll        Op = "*"
)

// Root-key versions (versions.go) take no operation of their own:
// deactivating or activating one is a lifecycle change ("state");
// destroying one needs both "delete" (it destroys material, as destroying
// a key does) and "state" (it ends a lifecycle), so that an identity with
// "delete" only — the S3 node, which schedules the deletion of a bucket's
// key at DeleteBucket — cannot erase a version an operator retired.

var knownOps = map[Op]bool{
	OpCreate: true, OpRead: true, OpRotate: true, OpEnable: true, OpState: true,
	OpDelete: true, OpGenerate: true, OpDecrypt: true, OpRewrap: true,
	OpEncrypt: true, OpAudit: true, OpMaster: true, OpExport: true, OpAttributes: true, OpAll: true,
}

// PolicyEntry grants operations on keys to a set of identities.
type PolicyEntry struct {
	Name       string
	Identities []Identity
	Allow      []Rule
}

// Rule allows Ops on the keys whose ids match one of Keys. A pattern is a
// key id in which "*" matches any run of characters, "/" included: "*"
// alone matches every key, "bucket/*" every bucket root key. Operations
// that name no key (listing, audit of all keys) need the pattern "*".
type Rule struct {
	Ops  []Op
	Keys []string
}

// Policy maps identities to what they may do. It is immutable once built.
type Policy struct {
	rules map[Identity][]Rule
	names map[Identity]string
}

// NewPolicy validates entries and builds a policy.
func NewPolicy(entries []PolicyEntry) (*Policy, error) {
	p := &Policy{rules: map[Identity][]Rule{}, names: map[Identity]string{}}
	for i, e := range entries {
		if e.Name == "" {
			return nil, fmt.Errorf("policy entry %d: name is empty", i)
		}
		for _, r := range e.Allow {
			if len(r.Ops) == 0 || len(r.Keys) == 0 {
				return nil, fmt.Errorf("policy %q: a rule needs ops and keys", e.Name)
			}
			for _, op := range r.Ops {
				if !knownOps[op] {
					return nil, fmt.Errorf("policy %q: unknown operation %q", e.Name, op)
				}
			}
			for _, k := range r.Keys {
				if k == "" {
					return nil, fmt.Errorf("policy %q: empty key pattern", e.Name)
				}
			}
		}
		for _, id := range e.Identities {
			id = Identity(strings.ToLower(string(id)))
			if !id.Valid() {
				return nil, fmt.Errorf("policy %q: identity %q is not a hex SHA-256", e.Name, id)
			}
			if other, dup := p.names[id]; dup && other != e.Name {
				return nil, fmt.Errorf("identity %s is in policies %q and %q", id, other, e.Name)
			}
			p.names[id] = e.Name
			p.rules[id] = append(p.rules[id], e.Allow...)
		}
	}
	return p, nil
}

// Known reports whether id is named by the policy, and under which name.
func (p *Policy) Known(id Identity) (string, bool) {
	name, ok := p.names[id]
	return name, ok
}

// Allowed reports whether id may perform op on the key keyID. An empty
// keyID asks for op on every key.
func (p *Policy) Allowed(id Identity, op Op, keyID string) bool {
	for _, r := range p.rules[id] {
		if !hasOp(r.Ops, op) {
			continue
		}
		for _, pat := range r.Keys {
			if keyID == "" {
				if pat == "*" {
					return true
				}
			} else if MatchPattern(pat, keyID) {
				return true
			}
		}
	}
	return false
}

func hasOp(ops []Op, op Op) bool {
	for _, o := range ops {
		if o == op || o == OpAll {
			return true
		}
	}
	return false
}

// MatchPattern reports whether name matches pattern, in which "*" matches
// any (possibly empty) run of characters. Iterative with backtracking to
// the last star: linear in practice, no recursion on hostile patterns.
func MatchPattern(pattern, name string) bool {
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case p < len(pattern) && pattern[p] == name[n]:
			p++
			n++
		case star >= 0:
			p = star + 1
			mark++
			n = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
