package kms

import (
	"container/list"
	"sync"
	"sync/atomic"
	"time"
)

// rootCache keeps opened root versions (RootKey) for a bounded time and
// count, so that a busy key is unwrapped once per TTL rather than once per
// request. Entries are reference counted: an evicted RootKey is closed only
// when the last user releases it.
type rootCache struct {
	max  int
	ttl  time.Duration
	now  func() time.Time
	mu   sync.Mutex
	lru  *list.List // of *cacheEntry, most recently used first
	byID map[cacheKey]*list.Element

	hits, misses atomic.Uint64
}

type cacheKey struct {
	id      string
	version int
}

type cacheEntry struct {
	key     cacheKey
	rk      RootKey
	expires time.Time
	refs    int  // users holding rk
	evicted bool // out of the cache; close when refs drops to 0
}

func newRootCache(max int, ttl time.Duration, now func() time.Time) *rootCache {
	return &rootCache{max: max, ttl: ttl, now: now, lru: list.New(), byID: map[cacheKey]*list.Element{}}
}

func (c *rootCache) stats() (hits, misses uint64) { return c.hits.Load(), c.misses.Load() }

// get returns a cached, unexpired root and its release function.
func (c *rootCache) get(id string, version int) (RootKey, func(), bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byID[cacheKey{id, version}]
	if !ok {
		c.misses.Add(1)
		return nil, nil, false
	}
	e := el.Value.(*cacheEntry)
	if c.now().After(e.expires) {
		c.removeLocked(el)
		c.misses.Add(1)
		return nil, nil, false
	}
	c.hits.Add(1)
	c.lru.MoveToFront(el)
	e.refs++
	return e.rk, c.releaser(e), true
}

// put caches rk (or, if caching is off, only tracks it for this use) and
// returns the root to use with its release function. If another goroutine
// cached the same version meanwhile, rk is closed and the cached one used.
func (c *rootCache) put(id string, version int, rk RootKey) (RootKey, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := cacheKey{id, version}
	if el, ok := c.byID[k]; ok {
		e := el.Value.(*cacheEntry)
		if !c.now().After(e.expires) {
			_ = rk.Close()
			e.refs++
			return e.rk, c.releaser(e)
		}
		c.removeLocked(el)
	}
	e := &cacheEntry{key: k, rk: rk, expires: c.now().Add(c.ttl), refs: 1}
	if c.max <= 0 {
		e.evicted = true
		return rk, c.releaser(e)
	}
	c.byID[k] = c.lru.PushFront(e)
	for c.lru.Len() > c.max {
		c.removeLocked(c.lru.Back())
	}
	return rk, c.releaser(e)
}

func (c *rootCache) releaser(e *cacheEntry) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			e.refs--
			if e.evicted && e.refs == 0 {
				_ = e.rk.Close()
			}
		})
	}
}

func (c *rootCache) removeLocked(el *list.Element) {
	e := el.Value.(*cacheEntry)
	c.lru.Remove(el)
	delete(c.byID, e.key)
	e.evicted = true
	if e.refs == 0 {
		_ = e.rk.Close()
	}
}

// evictKey drops every cached version of key id.
func (c *rootCache) evictKey(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, el := range c.byID {
		if k.id == id {
			c.removeLocked(el)
		}
	}
}

// evictVersion drops the cached root of version of key id.
func (c *rootCache) evictVersion(id string, version int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byID[cacheKey{id, version}]; ok {
		c.removeLocked(el)
	}
}

func (c *rootCache) purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.lru.Len() > 0 {
		c.removeLocked(c.lru.Back())
	}
}
