package config

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// startWatcher runs a LabelWatcher on dir until the test ends and returns a
// collector of its events.
func startWatcher(t *testing.T, dir string) *collector {
	t.Helper()
	w := NewLabelWatcher(dir, "simple", nil)
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{ch: make(chan LabelEvent, 1000)}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	go func() {
		for ev := range w.Events() {
			c.ch <- ev
		}
		close(c.ch)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		for range c.ch {
		}
	})
	return c
}

type collector struct {
	ch chan LabelEvent
}

// quiet collects events until none came for quiet (the watcher's debounce
// plus slack) or limit passed.
func (c *collector) quiet(t *testing.T, quiet, limit time.Duration) []LabelEvent {
	t.Helper()
	var out []LabelEvent
	end := time.After(limit)
	for {
		select {
		case ev, ok := <-c.ch:
			if !ok {
				return out
			}
			out = append(out, ev)
		case <-time.After(quiet):
			return out
		case <-end:
			return out
		}
	}
}

func describe(evs []LabelEvent) string {
	var parts []string
	for _, ev := range evs {
		switch {
		case ev.Removed:
			parts = append(parts, ev.Name+":removed")
		case ev.Err != nil:
			parts = append(parts, ev.Name+":error "+ev.Err.Error())
		default:
			parts = append(parts, ev.Name+":"+strings.Join(ev.Set.ClassNames(), ","))
		}
	}
	return strings.Join(parts, " | ")
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLabelWatcherInitialState(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "b.yaml"), "classes: [x, y]\n")
	writeFile(t, filepath.Join(dir, "a.txt"), "red\n")
	writeFile(t, filepath.Join(dir, "c.yaml"), "classes: [x, X]\n")
	for _, junk := range []string{".a.txt.swp", "a.txt~", "4913", "#a.txt#", ".hidden.txt", "notes.md"} {
		writeFile(t, filepath.Join(dir, junk), "junk\n")
	}
	c := startWatcher(t, dir)
	got := describe(c.quiet(t, time.Second, 5*time.Second))
	want := `a:red | b:x,y | c:error ` + filepath.Join(dir, "c.yaml") + `:1: classes[1]: duplicate class "X" (first on line 1 as classes[0])`
	if got != want {
		t.Errorf("initial events\n got %s\nwant %s", got, want)
	}
}

// TestLabelWatcherEditStyles: each way editors and scripts save a file ends
// in exactly one report of the final content.
func TestLabelWatcherEditStyles(t *testing.T) {
	tests := []struct {
		name string
		edit func(t *testing.T, dir, path string)
		want string // "" for no report
	}{
		{"plain write", func(t *testing.T, dir, path string) {
			writeFile(t, path, "person\ncar\nbus\n")
		}, "yard:person,car,bus"},
		{"write temp then rename", func(t *testing.T, dir, path string) {
			tmp := filepath.Join(dir, ".yard.txt.tmp1234")
			writeFile(t, tmp, "person\nbus\n")
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}, "yard:person,bus"},
		{"sed -i", func(t *testing.T, dir, path string) {
			tmp := filepath.Join(dir, "sedX1b2c3")
			writeFile(t, tmp, "person\ntruck\n")
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}, "yard:person,truck"},
		{"vim backup rename", func(t *testing.T, dir, path string) {
			swp := filepath.Join(dir, ".yard.txt.swp")
			writeFile(t, swp, "swap")
			probe := filepath.Join(dir, "4913")
			writeFile(t, probe, "")
			os.Remove(probe)
			if err := os.Rename(path, path+"~"); err != nil {
				t.Fatal(err)
			}
			writeFile(t, path, "dog\ncat\n")
			if err := os.Chmod(path, 0o644); err != nil {
				t.Fatal(err)
			}
			os.Remove(path + "~")
			os.Remove(swp)
		}, "yard:dog,cat"},
		{"emacs backup and lock", func(t *testing.T, dir, path string) {
			lock := filepath.Join(dir, ".#yard.txt")
			if err := os.Symlink("user@host.1234", lock); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, "#yard.txt#"), "autosave")
			if err := os.Rename(path, path+"~"); err != nil {
				t.Fatal(err)
			}
			writeFile(t, path, "heron\n")
			os.Remove(lock)
			os.Remove(filepath.Join(dir, "#yard.txt#"))
		}, "yard:heron"},
		{"truncate then write", func(t *testing.T, dir, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
			f.WriteString("fox\n")
			time.Sleep(20 * time.Millisecond)
			f.WriteString("badger\n")
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		}, "yard:fox,badger"},
		{"delete then create", func(t *testing.T, dir, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
			writeFile(t, path, "owl\n")
		}, "yard:owl"},
		{"txt replaced by yaml", func(t *testing.T, dir, path string) {
			writeFile(t, filepath.Join(dir, ".yard.yaml.new"), "classes: [{name: person, aliases: [human]}]\n")
			if err := os.Rename(filepath.Join(dir, ".yard.yaml.new"), filepath.Join(dir, "yard.yaml")); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, "yard:person"},
		{"same bytes saved again", func(t *testing.T, dir, path string) {
			writeFile(t, path, "person\ncar\n")
		}, ""},
		{"touch and chmod", func(t *testing.T, dir, path string) {
			now := time.Now()
			if err := os.Chtimes(path, now, now); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, 0o600); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"other set untouched", func(t *testing.T, dir, path string) {
			writeFile(t, filepath.Join(dir, "other.txt"), "kite\n")
		}, "other:kite"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "yard.txt")
			writeFile(t, path, "person\ncar\n")
			c := startWatcher(t, dir)
			if got := describe(c.quiet(t, 700*time.Millisecond, 5*time.Second)); got != "yard:person,car" {
				t.Fatalf("initial events %s", got)
			}
			tc.edit(t, dir, path)
			if got := describe(c.quiet(t, time.Second, 10*time.Second)); got != tc.want {
				t.Errorf("events after the edit\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestLabelWatcherBurst: 100 writes within a second give at most 3 reports,
// the last with the final content.
func TestLabelWatcherBurst(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "yard.txt")
	writeFile(t, path, "start\n")
	c := startWatcher(t, dir)
	c.quiet(t, 700*time.Millisecond, 5*time.Second)
	for i := range 100 {
		writeFile(t, path, fmt.Sprintf("person\nc%d\n", i))
		time.Sleep(10 * time.Millisecond)
	}
	evs := c.quiet(t, 1500*time.Millisecond, 10*time.Second)
	t.Logf("%d reports: %s", len(evs), describe(evs))
	if len(evs) < 1 || len(evs) > 3 {
		t.Fatalf("%d reports for a burst of 100 writes, want 1 to 3", len(evs))
	}
	if got := describe(evs[len(evs)-1:]); got != "yard:person,c99" {
		t.Errorf("last report %s, want the final content", got)
	}
}

// TestLabelWatcherMaxDelay: a file that never stops changing is still
// reloaded, about once per MaxDelay.
func TestLabelWatcherMaxDelay(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "yard.txt")
	writeFile(t, path, "start\n")
	c := startWatcher(t, dir)
	c.quiet(t, 700*time.Millisecond, 5*time.Second)
	var mu sync.Mutex
	var during []LabelEvent
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case ev := <-c.ch:
				mu.Lock()
				during = append(during, ev)
				mu.Unlock()
			case <-stop:
				return
			}
		}
	}()
	for i := range 60 { // 3 s of writes, 50 ms apart: never quiet for 250 ms
		writeFile(t, path, fmt.Sprintf("person\nd%d\n", i))
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	mu.Lock()
	n := len(during)
	mu.Unlock()
	if n < 2 {
		t.Errorf("%d reports during 3 s of continuous writes, want >= 2 (MaxDelay 1 s)", n)
	}
	evs := c.quiet(t, 1500*time.Millisecond, 10*time.Second)
	if len(evs) == 0 {
		mu.Lock()
		evs = during
		mu.Unlock()
	}
	if got := describe(evs[len(evs)-1:]); got != "yard:person,d59" {
		t.Errorf("last report %s", got)
	}
}

func TestLabelWatcherRemoveInvalidFix(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "yard.yaml")
	writeFile(t, path, "classes: [person]\n")
	c := startWatcher(t, dir)
	c.quiet(t, 700*time.Millisecond, 5*time.Second)
	steps := []struct {
		do   func()
		want string
	}{
		{func() { writeFile(t, path, "classes: [person]\nlabels: [x]\n") }, "yard:error " + path + `:2: labels: unknown key "labels" (want templates or classes)`},
		{func() { writeFile(t, path, "classes: [person, car]\n") }, "yard:person,car"},
		{func() { os.Remove(path) }, "yard:removed"},
		{func() { writeFile(t, path, "classes: [bird]\n") }, "yard:bird"},
	}
	for i, s := range steps {
		s.do()
		if got := describe(c.quiet(t, time.Second, 10*time.Second)); got != s.want {
			t.Errorf("step %d\n got %s\nwant %s", i, got, s.want)
		}
	}
}

func TestLabelWatcherIgnoresTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "yard.txt"), "person\n")
	c := startWatcher(t, dir)
	c.quiet(t, 700*time.Millisecond, 5*time.Second)
	for _, junk := range []string{".yard.txt.swp", ".yard.txt.swx", "yard.txt~", ".#yard.txt", "#yard.txt#", "4913", ".hidden.txt", "yard.txt.bak", "yard.txt.tmp", "readme.md", "-bad.txt"} {
		p := filepath.Join(dir, junk)
		writeFile(t, p, "junk\n")
		writeFile(t, p, "more junk\n")
		os.Remove(p)
	}
	if evs := c.quiet(t, time.Second, 5*time.Second); len(evs) != 0 {
		t.Errorf("reports for temporary files: %s", describe(evs))
	}
}

func TestLabelWatcherFolderRemovedAndRecreated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "labels")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "a.txt"), "red\n")
	writeFile(t, filepath.Join(dir, "b.txt"), "blue\n")
	c := startWatcher(t, dir)
	if got := describe(c.quiet(t, 700*time.Millisecond, 5*time.Second)); got != "a:red | b:blue" {
		t.Fatalf("initial %s", got)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	got := describe(c.quiet(t, time.Second, 10*time.Second))
	if got != "a:removed | b:removed" && got != "b:removed | a:removed" {
		t.Errorf("after removing the folder: %s", got)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "a.txt"), "green\n")
	if got := describe(c.quiet(t, time.Second, 10*time.Second)); got != "a:green" {
		t.Errorf("after recreating the folder: %s", got)
	}
	writeFile(t, filepath.Join(dir, "a.txt"), "yellow\n")
	if got := describe(c.quiet(t, time.Second, 10*time.Second)); got != "a:yellow" {
		t.Errorf("edit in the recreated folder: %s", got)
	}
}

func TestLabelWatcherStartsWithoutFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "labels")
	c := startWatcher(t, dir)
	if evs := c.quiet(t, 500*time.Millisecond, 5*time.Second); len(evs) != 0 {
		t.Fatalf("events without a folder: %s", describe(evs))
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "a.txt"), "red\n")
	if got := describe(c.quiet(t, time.Second, 10*time.Second)); got != "a:red" {
		t.Errorf("after creating the folder: %s", got)
	}
}
