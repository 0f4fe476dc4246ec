package bucketkey

import (
	"container/list"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/kms/sealed"
	"github.com/s3kms/s3kms/s3node/objcrypt"
)

// KMS is what the cache asks of the KMS; kms/kmsclient.Client implements
// it. Errors carry a kms.Code and are returned unchanged.
type KMS interface {
	// GenerateDataKey returns a fresh data key sealed under keyID, bound
	// to ec.
	GenerateDataKey(ctx context.Context, keyID string, ec map[string]string) (kms.DataKey, error)
	// Decrypt opens a sealed data key made with ec.
	Decrypt(ctx context.Context, sealedKey []byte, ec map[string]string) (kms.DataKey, error)
}

// ErrWrongObject is returned by Open when the node-sealed OEK does not
// open with its bucket key and the given object context: the envelope
// was moved to another object, or altered.
var ErrWrongObject = errors.New("bucketkey: the object key does not open for this object")

// Cache holds bucket data keys for a bounded time. It is safe for
// concurrent use. Entries are wiped when they expire or are evicted.
type Cache struct {
	kms KMS
	ttl time.Duration
	max int
	now func() time.Time

	mu    sync.Mutex
	lru   *list.List               // of *entry, most recent first
	byGen map[string]*list.Element // keyID + bucket context → the BDK new objects use
	byBlo map[[32]byte]*list.Element
	group singleflight.Group

	// Lookups answered from the cache or not, by use: new objects
	// (generate) and reads (open).
	genHits, genMisses, openHits, openMisses atomic.Uint64
}

// Stats are a cache's lookup counts since it was made.
type Stats struct {
	GenerateHits, GenerateMisses uint64 // bucket keys for new objects
	OpenHits, OpenMisses         uint64 // bucket keys of objects read
}

// Stats returns the lookup counts (for metrics).
func (c *Cache) Stats() Stats {
	return Stats{
		GenerateHits: c.genHits.Load(), GenerateMisses: c.genMisses.Load(),
		OpenHits: c.openHits.Load(), OpenMisses: c.openMisses.Load(),
	}
}

// entry is one cached BDK.
type entry struct {
	genKey  string   // "" when only opened, not used for new objects
	blobKey [32]byte // SHA-256 of the sealed BDK
	bdk     []byte
	sealed  []byte
	version int
	expires time.Time
}

// Config configures a Cache.
type Config struct {
	KMS KMS
	// TTL is how long a BDK is used for new objects and kept for reads.
	TTL time.Duration
	// Max bounds the number of cached BDKs (default 1024).
	Max int
	Now func() time.Time // default time.Now
}

// New returns a cache; cfg.TTL must be positive.
func New(cfg Config) (*Cache, error) {
	if cfg.KMS == nil || cfg.TTL <= 0 {
		return nil, errors.New("bucketkey: KMS and a positive TTL are required")
	}
	if cfg.Max <= 0 {
		cfg.Max = 1024
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Cache{kms: cfg.KMS, ttl: cfg.TTL, max: cfg.Max, now: cfg.Now, lru: list.New(),
		byGen: map[string]*list.Element{}, byBlo: map[[32]byte]*list.Element{}}, nil
}

// genKey names the BDK of a key and bucket context.
func genKey(keyID string, bucketCtx map[string]string) string {
	parts := make([]string, 0, len(bucketCtx))
	for k, v := range bucketCtx {
		parts = append(parts, fmt.Sprintf("%d:%s=%d:%s", len(k), k, len(v), v))
	}
	sort.Strings(parts)
	return keyID + "\x00" + strings.Join(parts, "\x00")
}

// Seal makes a fresh OEK for an object and returns it with its envelope
// and the root-key version of the BDK. use is sealed.UseSSES3 or
// sealed.UseSSEKMS; bucketCtx binds the BDK (no object key in it),
// objectCtx the OEK. The KMS is called only when no live BDK of keyID and
// bucketCtx is cached. The caller wipes the OEK.
func (c *Cache) Seal(ctx context.Context, keyID string, bucketCtx, objectCtx map[string]string, use sealed.Use) (*objcrypt.ObjectKey, []byte, int, error) {
	bdk, sealedBDK, version, err := c.forNew(ctx, keyID, bucketCtx)
	if err != nil {
		return nil, nil, 0, err
	}
	defer clear(bdk)
	oek, err := objcrypt.NewObjectKey(rand.Reader)
	if err != nil {
		return nil, nil, 0, err
	}
	ec, err := sealed.EncodeContext(objectCtx)
	if err != nil {
		oek.Wipe()
		return nil, nil, 0, err
	}
	plain := oek.Bytes()
	defer clear(plain)
	so, err := sealed.Seal(rand.Reader, sealed.HMACPRF(bdk), use, BucketKeyID, 0, ec, plain)
	if err != nil {
		oek.Wipe()
		return nil, nil, 0, err
	}
	env, err := Envelope{BucketKey: sealedBDK, ObjectKey: so}.Marshal()
	if err != nil {
		oek.Wipe()
		return nil, nil, 0, err
	}
	return oek, env, version, nil
}

// Open returns the OEK of an envelope: its BDK from the cache, or from
// the KMS (Decrypt with bucketCtx) and then cached; the OEK is opened with
// objectCtx. Returns ErrWrongObject when the OEK does not open, an error
// wrapping ErrMalformed for a bad envelope, and KMS errors unchanged.
func (c *Cache) Open(ctx context.Context, envelope []byte, bucketCtx, objectCtx map[string]string) (*objcrypt.ObjectKey, error) {
	e, err := Parse(envelope)
	if err != nil {
		return nil, err
	}
	bdk, err := c.forRead(ctx, e.BucketKey, bucketCtx)
	if err != nil {
		return nil, err
	}
	defer clear(bdk)
	return openObjectKey(e, bdk, objectCtx)
}

// Open is Cache.Open without a cache: one KMS Decrypt per call. Nodes
// whose cache is off use it to read objects written with bucket keys.
func Open(ctx context.Context, k KMS, envelope []byte, bucketCtx, objectCtx map[string]string) (*objcrypt.ObjectKey, error) {
	e, err := Parse(envelope)
	if err != nil {
		return nil, err
	}
	dk, err := k.Decrypt(ctx, e.BucketKey, bucketCtx)
	if err != nil {
		return nil, err
	}
	defer dk.Wipe()
	return openObjectKey(e, dk.Plaintext, objectCtx)
}

// openObjectKey opens the node-sealed OEK of e with its BDK.
func openObjectKey(e Envelope, bdk []byte, objectCtx map[string]string) (*objcrypt.ObjectKey, error) {
	ec, err := sealed.EncodeContext(objectCtx)
	if err != nil {
		return nil, err
	}
	s, err := sealed.Parse(e.ObjectKey)
	if err != nil {
		return nil, err
	}
	plain, err := s.Open(sealed.HMACPRF(bdk), ec)
	if errors.Is(err, sealed.ErrOpen) {
		return nil, ErrWrongObject
	}
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	return objcrypt.ObjectKeyFrom(plain)
}

// forNew returns a copy of the live BDK for new objects of keyID and
// bucketCtx, asking the KMS for one (once, whatever the concurrency) when
// there is none.
func (c *Cache) forNew(ctx context.Context, keyID string, bucketCtx map[string]string) ([]byte, []byte, int, error) {
	gk := genKey(keyID, bucketCtx)
	if bdk, sealedBDK, v, ok := c.lookupGen(gk); ok {
		c.genHits.Add(1)
		return bdk, sealedBDK, v, nil
	}
	c.genMisses.Add(1)
	_, err, _ := c.group.Do("gen\x00"+gk, func() (any, error) {
		if bdk, _, _, ok := c.lookupGen(gk); ok {
			clear(bdk)
			return nil, nil
		}
		dk, err := c.kms.GenerateDataKey(ctx, keyID, bucketCtx)
		if err != nil {
			return nil, err
		}
		c.insert(&entry{genKey: gk, bdk: dk.Plaintext, sealed: dk.Sealed, version: dk.KeyVersion})
		return nil, nil
	})
	if err != nil {
		return nil, nil, 0, err
	}
	if bdk, sealedBDK, v, ok := c.lookupGen(gk); ok {
		return bdk, sealedBDK, v, nil
	}
	return nil, nil, 0, errors.New("bucketkey: bucket key evicted at once (cache too small)")
}

// forRead returns a copy of the BDK sealed as sealedBDK.
func (c *Cache) forRead(ctx context.Context, sealedBDK []byte, bucketCtx map[string]string) ([]byte, error) {
	bk := sha256.Sum256(sealedBDK)
	if bdk, ok := c.lookupBlob(bk); ok {
		c.openHits.Add(1)
		return bdk, nil
	}
	c.openMisses.Add(1)
	_, err, _ := c.group.Do("dec\x00"+string(bk[:]), func() (any, error) {
		if bdk, ok := c.lookupBlob(bk); ok {
			clear(bdk)
			return nil, nil
		}
		dk, err := c.kms.Decrypt(ctx, sealedBDK, bucketCtx)
		if err != nil {
			return nil, err
		}
		c.insert(&entry{blobKey: bk, bdk: dk.Plaintext, sealed: append([]byte(nil), sealedBDK...), version: dk.KeyVersion})
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	if bdk, ok := c.lookupBlob(bk); ok {
		return bdk, nil
	}
	return nil, errors.New("bucketkey: bucket key evicted at once (cache too small)")
}

func (c *Cache) lookupGen(gk string) ([]byte, []byte, int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byGen[gk]
	if !ok {
		return nil, nil, 0, false
	}
	e := el.Value.(*entry)
	if !c.now().Before(e.expires) {
		c.remove(el)
		return nil, nil, 0, false
	}
	c.lru.MoveToFront(el)
	return append([]byte(nil), e.bdk...), e.sealed, e.version, true
}

func (c *Cache) lookupBlob(bk [32]byte) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byBlo[bk]
	if !ok {
		return nil, false
	}
	e := el.Value.(*entry)
	if !c.now().Before(e.expires) {
		c.remove(el)
		return nil, false
	}
	c.lru.MoveToFront(el)
	return append([]byte(nil), e.bdk...), true
}

// insert adds e (also findable by its sealed blob) and evicts the least
// recently used entries beyond the bound.
func (c *Cache) insert(e *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.expires = c.now().Add(c.ttl)
	if e.blobKey == ([32]byte{}) {
		e.blobKey = sha256.Sum256(e.sealed)
	}
	if old, ok := c.byBlo[e.blobKey]; ok {
		c.remove(old)
	}
	if e.genKey != "" {
		if old, ok := c.byGen[e.genKey]; ok {
			c.remove(old)
		}
	}
	el := c.lru.PushFront(e)
	c.byBlo[e.blobKey] = el
	if e.genKey != "" {
		c.byGen[e.genKey] = el
	}
	for c.lru.Len() > c.max {
		c.remove(c.lru.Back())
	}
}

// remove drops an entry and wipes its BDK. Callers hold c.mu.
func (c *Cache) remove(el *list.Element) {
	e := el.Value.(*entry)
	c.lru.Remove(el)
	if cur, ok := c.byBlo[e.blobKey]; ok && cur == el {
		delete(c.byBlo, e.blobKey)
	}
	if e.genKey != "" {
		if cur, ok := c.byGen[e.genKey]; ok && cur == el {
			delete(c.byGen, e.genKey)
		}
	}
	clear(e.bdk)
}

// Flush drops every cached BDK, e.g. after a key was rotated or
// disabled.
func (c *Cache) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.lru.Len() > 0 {
		c.remove(c.lru.Back())
	}
}

// Len is the number of cached BDKs.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
