package publish

import (
	"sync"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// store is Paho's ordered in-memory store, instrumented to tell when Paho
// has taken its snapshot of the queued messages after a new connection.
//
// Right after a reconnection, Paho resends the queued messages (resume)
// from a snapshot of the store's keys; after the first connection, it
// clears the store (clean session). A message published in the
// short window between the connection coming up and that snapshot is both
// sent directly and found in the snapshot: it goes out twice and Paho races
// on the packet (eclipse-paho/paho.mqtt.golang#703, open for v1.5.x). The
// Publisher therefore waits, before publishing on an open connection, until
// the snapshot of that connection is taken (All) or the store is cleared
// (Reset); the wait is normally microseconds.
type store struct {
	*mqtt.OrderedMemoryStore

	mu      sync.Mutex
	pending chan struct{} // non-nil from a successful dial until the snapshot
	done    chan struct{} // always closed: settled's answer when nothing is pending
}

func newStore() *store {
	done := make(chan struct{})
	close(done)
	return &store{OrderedMemoryStore: mqtt.NewOrderedMemoryStore(), done: done}
}

// arm marks a snapshot as pending: a network connection was just opened.
func (s *store) arm() {
	s.mu.Lock()
	if s.pending == nil {
		s.pending = make(chan struct{})
	}
	s.mu.Unlock()
}

// release ends the pending state (snapshot taken, or connection attempt
// failed).
func (s *store) release() {
	s.mu.Lock()
	if s.pending != nil {
		close(s.pending)
		s.pending = nil
	}
	s.mu.Unlock()
}

// settled returns a channel that is closed once no snapshot is pending.
func (s *store) settled() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending == nil {
		return s.done
	}
	return s.pending
}

// All returns the keys of the stored messages in order (Paho's snapshot).
func (s *store) All() []string {
	keys := s.OrderedMemoryStore.All()
	s.release()
	return keys
}

// Reset clears the store.
func (s *store) Reset() {
	s.OrderedMemoryStore.Reset()
	s.release()
}
