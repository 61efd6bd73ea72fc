package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Label watcher defaults.
const (
	// DefaultLabelDebounce is how long a label set's files must be quiet
	// before the set is reloaded.
	DefaultLabelDebounce = 250 * time.Millisecond
	// DefaultLabelMaxDelay bounds the wait for quiet: a set whose files keep
	// changing is still reloaded this long after its first change.
	DefaultLabelMaxDelay = time.Second
	// labelDirPoll is how often a missing labels folder is looked for.
	labelDirPoll = 250 * time.Millisecond
)

// LabelEvent reports the new state of one label set in the watched folder.
// Exactly one of Removed, Err and Set describes it.
type LabelEvent struct {
	// Name is the label set's name (the files' stem).
	Name string
	// Removed: neither NAME.txt nor NAME.yaml exists any more.
	Removed bool
	// Err is why the set's files do not load; it names the file and line.
	Err error
	// Set is the newly loaded set when Removed is false and Err is nil.
	Set *LabelSet
}

// LabelWatcher watches a labels folder and reports each label set whose files
// changed, after they have been quiet for Debounce (at most MaxDelay after
// the first change). It watches the folder, not the files, so editors that
// save by writing a temporary file and renaming it, backup-and-rename (vim),
// truncate-then-write and delete-then-create all end in one report of the
// final content. Temporary, hidden and backup files (.NAME.txt.swp,
// NAME.txt~, .#NAME.txt, 4913, ...) are not label files and are ignored. A
// set is reported only when what its files hold changed since the last
// report: a touch, a chmod that keeps it readable, or a save of the same
// bytes report nothing. If the folder is removed, every set in it is
// reported removed, and the watcher waits for the folder to come back.
//
// Make it with NewLabelWatcher, change the fields before Run if needed, and
// call Run once.
type LabelWatcher struct {
	// Dir is the labels folder.
	Dir string
	// Templates names the built-in template set for files that choose none.
	Templates string
	// Debounce and MaxDelay: 0 means DefaultLabelDebounce and
	// DefaultLabelMaxDelay.
	Debounce, MaxDelay time.Duration
	// Log receives debug messages and watch errors; nil discards them.
	Log *slog.Logger

	events chan LabelEvent
}

// NewLabelWatcher returns a watcher of dir with the default timings.
func NewLabelWatcher(dir, templates string, log *slog.Logger) *LabelWatcher {
	return &LabelWatcher{Dir: dir, Templates: templates, Log: log, events: make(chan LabelEvent)}
}

// Events delivers the reports. Run sends on it, blocking until they are
// received, and closes it when it returns. When Run starts it reports every
// set already in the folder, in name order, so a consumer can build its
// whole state from this channel.
func (w *LabelWatcher) Events() <-chan LabelEvent { return w.events }

// pending is a set waiting for its files to be quiet.
type pending struct{ first, last time.Time }

// Run watches until ctx is done and returns nil then; it returns an error
// only if no watcher can be made at all.
func (w *LabelWatcher) Run(ctx context.Context) error {
	out := w.events
	if out == nil {
		return errors.New("label watcher: not made by NewLabelWatcher")
	}
	defer close(out)
	debounce, maxDelay := w.Debounce, w.MaxDelay
	if debounce <= 0 {
		debounce = DefaultLabelDebounce
	}
	if maxDelay <= 0 {
		maxDelay = DefaultLabelMaxDelay
	}
	if maxDelay < debounce {
		maxDelay = debounce
	}
	log := w.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir := filepath.Clean(w.Dir)

	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("label watcher: %w", err)
	}
	defer fw.Close()

	sums := map[string][32]byte{} // the state last reported, per set
	waiting := map[string]*pending{}
	watching := false

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	poll := time.NewTicker(labelDirPoll)
	defer poll.Stop()

	// report sends the state of set name if it changed since the last report.
	report := func(name string) bool {
		src := readLabelSource(dir, name)
		sum := src.sum()
		last, known := sums[name]
		if known && last == sum || !known && !src.present() {
			return true
		}
		ev := LabelEvent{Name: name}
		if !src.present() {
			ev.Removed = true
			delete(sums, name)
		} else {
			ev.Set, ev.Err = src.parse(w.Templates)
			sums[name] = sum
		}
		log.Debug("label set changed", "set", name, "removed", ev.Removed, "err", ev.Err)
		select {
		case out <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	// rescan reports every set in the folder and every known set, now.
	rescan := func() bool {
		names, err := LabelSetNames(dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			log.Warn("label folder unreadable", "dir", dir, "err", err)
		}
		seen := map[string]bool{}
		for _, n := range names {
			seen[n] = true
		}
		for n := range sums {
			if !seen[n] {
				names = append(names, n)
			}
		}
		for _, n := range names {
			delete(waiting, n)
			if !report(n) {
				return false
			}
		}
		return true
	}
	// watch tries to watch the folder; on success it reports everything.
	watch := func() bool {
		if err := fw.Add(dir); err != nil {
			return true
		}
		watching = true
		log.Debug("watching label folder", "dir", dir)
		return rescan()
	}
	// arm sets the timer for the earliest due set.
	arm := func(now time.Time) {
		timer.Stop()
		var next time.Time
		for _, p := range waiting {
			due := p.last.Add(debounce)
			if lim := p.first.Add(maxDelay); lim.Before(due) {
				due = lim
			}
			if next.IsZero() || due.Before(next) {
				next = due
			}
		}
		if !next.IsZero() {
			timer.Reset(max(next.Sub(now), 0))
		}
	}

	if !watch() {
		return nil
	}
	if !watching {
		log.Warn("label folder missing: waiting for it", "dir", dir)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
			if !watching && !watch() {
				return nil
			}
		case err, ok := <-fw.Errors:
			if !ok {
				return nil
			}
			log.Warn("label watcher", "dir", dir, "err", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) && !rescan() {
				return nil
			}
		case ev, ok := <-fw.Events:
			if !ok {
				return nil
			}
			now := time.Now()
			if filepath.Clean(ev.Name) == dir {
				if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
					log.Warn("label folder removed: keeping the loaded sets and waiting for it", "dir", dir)
					_ = fw.Remove(dir)
					watching = false
					if !rescan() {
						return nil
					}
				}
				continue
			}
			if filepath.Base(ev.Name) == "..data" {
				// A Kubernetes ConfigMap swapped its files at once.
				if !rescan() {
					return nil
				}
				continue
			}
			name, ok := LabelSetName(ev.Name)
			if !ok {
				continue
			}
			p := waiting[name]
			if p == nil {
				p = &pending{first: now}
				waiting[name] = p
			}
			p.last = now
			arm(now)
		case <-timer.C:
			now := time.Now()
			for name, p := range waiting {
				if now.Before(p.last.Add(debounce)) && now.Before(p.first.Add(maxDelay)) {
					continue
				}
				delete(waiting, name)
				if !report(name) {
					return nil
				}
			}
			arm(time.Now())
		}
	}
}
