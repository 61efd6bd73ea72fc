package tokenizer

import (
	"strings"
	"sync"
)

// cacheGeneration is how many words one generation of the cache holds.
const cacheGeneration = 4096

// wordCache maps pieces to their token ids. It holds two generations: when
// the current one is full it becomes the old one and the previous old one
// is dropped, so at most 2*cacheGeneration words are kept, and words in use
// survive (a hit in the old generation moves the word to the current one).
type wordCache struct {
	mu  sync.RWMutex
	cur map[string][]int32
	old map[string][]int32
}

func newWordCache() *wordCache {
	return &wordCache{cur: make(map[string][]int32)}
}

// get returns the cached ids of word. The slice is shared: callers must not
// modify it.
func (c *wordCache) get(word string) ([]int32, bool) {
	c.mu.RLock()
	ids, ok := c.cur[word]
	if ok {
		c.mu.RUnlock()
		return ids, true
	}
	ids, ok = c.old[word]
	c.mu.RUnlock()
	if ok {
		c.put(word, ids)
	}
	return ids, ok
}

// put stores the ids of word, under a copy of word so that the cache never
// keeps the text word was cut from alive.
func (c *wordCache) put(word string, ids []int32) {
	c.mu.Lock()
	if len(c.cur) >= cacheGeneration {
		c.old = c.cur
		c.cur = make(map[string][]int32, cacheGeneration)
	}
	c.cur[strings.Clone(word)] = ids
	c.mu.Unlock()
}

// len returns the number of cached words, both generations together.
func (c *wordCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.cur) + len(c.old)
}
