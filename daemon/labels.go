package daemon

import (
	"fmt"
	"io/fs"
	"log/slog"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/autoclipd/autoclipd/autoclip"
	"github.com/autoclipd/autoclipd/config"
	"github.com/autoclipd/autoclipd/events"
)

// SetStatus is a label set's state, published retained on
// <prefix>/<device>/labels/<set>/status (events.LabelsStatusMessage).
type SetStatus = events.LabelsStatus

// LoadFunc parses a label set from disk.
type LoadFunc func(name string) (*config.LabelSet, error)

// EncodeFunc turns a parsed label set into a scoring-ready one.
type EncodeFunc func(set *config.LabelSet) (*LabelSet, error)

// LabelSets holds the active version of every label set in use. Frames read
// the active version with Get (one atomic load: a frame is scored entirely
// with one set); Reload parses and encodes a new version off the frame path
// and swaps it in only when it is good. A bad file or a removed one keeps the
// last good version active; the status says why.
type LabelSets struct {
	load   LoadFunc
	encode EncodeFunc
	status func(name string, st SetStatus)
	log    *slog.Logger

	encMu             sync.Mutex // one encoding at a time: the text encoder is not concurrent
	mu                sync.Mutex
	sets              map[string]*setEntry
	reloads, failures atomic.Uint64
}

type setEntry struct {
	cur    atomic.Pointer[LabelSet]
	status SetStatus
	users  int
}

// NewLabelSets builds an empty registry. status (may be nil) is called with
// every status change.
func NewLabelSets(load LoadFunc, encode EncodeFunc, status func(string, SetStatus), log *slog.Logger) *LabelSets {
	if status == nil {
		status = func(string, SetStatus) {}
	}
	return &LabelSets{load: load, encode: encode, status: status, log: log, sets: map[string]*setEntry{}}
}

// Get returns the active version of set name, nil when it never loaded.
func (l *LabelSets) Get(name string) *LabelSet {
	l.mu.Lock()
	e := l.sets[name]
	l.mu.Unlock()
	if e == nil {
		return nil
	}
	return e.cur.Load()
}

// Status returns the set's status and whether the set is known.
func (l *LabelSets) Status(name string) (SetStatus, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.sets[name]
	if e == nil {
		return SetStatus{}, false
	}
	return e.status, true
}

// Names lists the sets in use, sorted.
func (l *LabelSets) Names() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	names := make([]string, 0, len(l.sets))
	for n := range l.sets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Counts returns how many reloads succeeded and failed.
func (l *LabelSets) Counts() (ok, failed uint64) { return l.reloads.Load(), l.failures.Load() }

// Use marks set name as used by one more camera and loads it if it is new.
// The error is the load error; the set stays registered either way so a
// later fix of the file loads it.
func (l *LabelSets) Use(name string) error {
	l.mu.Lock()
	e := l.sets[name]
	if e == nil {
		e = &setEntry{}
		l.sets[name] = e
	}
	e.users++
	fresh := e.users == 1 && e.cur.Load() == nil && e.status == SetStatus{} // never tried
	l.mu.Unlock()
	if fresh {
		return l.Reload(name)
	}
	return nil
}

// Release drops one camera's use of set name; an unused set is forgotten.
func (l *LabelSets) Release(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.sets[name]; e != nil {
		e.users--
		if e.users <= 0 {
			delete(l.sets, name)
		}
	}
}

// Reload parses and encodes set name again and, when that works, makes it
// the active version. Sets no camera uses are ignored.
func (l *LabelSets) Reload(name string) error {
	if !l.used(name) {
		return nil
	}
	set, err := l.load(name)
	return l.apply(name, set, err, false)
}

// ReloadAll re-encodes every set in use, changed or not (the templates or
// scoring settings changed).
func (l *LabelSets) ReloadAll() {
	for _, name := range l.Names() {
		set, err := l.load(name)
		_ = l.apply(name, set, err, true)
	}
}

// Update applies a label watcher's report: a new version is encoded and
// swapped in, an error or a removal keeps the last good version. Reports of
// sets no camera uses are ignored.
func (l *LabelSets) Update(ev config.LabelEvent) error {
	if !l.used(ev.Name) {
		return nil
	}
	switch {
	case ev.Removed:
		return l.apply(ev.Name, nil, fmt.Errorf("label set %s: %w", ev.Name, errRemoved), false)
	case ev.Err != nil:
		return l.apply(ev.Name, nil, ev.Err, false)
	default:
		return l.apply(ev.Name, ev.Set, nil, false)
	}
}

var errRemoved = fmt.Errorf("its file was removed: %w", fs.ErrNotExist)

func (l *LabelSets) used(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.sets[name]
	return ok
}

// apply encodes set (when err is nil) and swaps it in, or records err.
func (l *LabelSets) apply(name string, set *config.LabelSet, err error, force bool) error {
	start := time.Now()
	var ls *LabelSet
	if err == nil && !force {
		// The watcher reports every set when it starts, and a save of the
		// same content reports nothing, but a file touched back to an
		// earlier content does: an unchanged set needs no encoding.
		l.mu.Lock()
		e := l.sets[name]
		var cur *LabelSet
		if e != nil {
			cur = e.cur.Load()
		}
		l.mu.Unlock()
		if cur != nil && reflect.DeepEqual(cur.Set, set) {
			ls = cur
		}
	}
	if err == nil && ls == nil {
		l.encMu.Lock()
		ls, err = l.encode(set)
		l.encMu.Unlock()
	}
	l.mu.Lock()
	e := l.sets[name]
	if e == nil { // released meanwhile
		l.mu.Unlock()
		return nil
	}
	if err != nil {
		l.failures.Add(1)
		st := e.status
		st.OK = false
		st.Error = err.Error()
		prev := e.cur.Load()
		if prev != nil {
			st.Error += "; keeping the last good version"
		}
		e.status = st
		l.mu.Unlock()
		if prev != nil {
			l.log.Error("label set: keeping the last good version", "set", name, "err", err)
		} else {
			l.log.Error("label set not loaded: cameras using it wait", "set", name, "err", err)
		}
		l.status(name, st)
		return err
	}
	e.cur.Store(ls)
	st := SetStatus{OK: true, Classes: len(set.Classes), Templates: len(set.Templates), Loaded: time.Now().UTC()}
	e.status = st
	l.mu.Unlock()
	l.reloads.Add(1)
	l.log.Info("label set loaded", "set", name, "classes", st.Classes, "templates", st.Templates,
		"prompts_encoded", ls.Encoded, "prompts_cached", ls.Cached, "took", time.Since(start).Round(time.Millisecond))
	l.status(name, st)
	return nil
}

// Options returns the classifier options of the active version of name.
func (ls *LabelSet) Options() autoclip.Options { return ls.Classifier.Options() }
