package textcache

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autoclipd/autoclipd/internal/logtest"
)

// vec is a deterministic embedding for prompt p.
func vec(p string, dim int) []float32 {
	h := fnv.New32a()
	h.Write([]byte(p))
	s := float32(h.Sum32()%10000) / 100
	v := make([]float32, dim)
	for i := range v {
		v[i] = s + float32(i)/8
	}
	return v
}

func vecs(prompts []string, dim int) []float32 {
	var out []float32
	for _, p := range prompts {
		out = append(out, vec(p, dim)...)
	}
	return out
}

func prompts(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s a photo of a class-%d.", prefix, i)
	}
	return out
}

func newLog() (*logtest.Buffer, *slog.Logger) {
	b := &logtest.Buffer{}
	return b, slog.New(slog.NewTextHandler(b, nil))
}

// writeModel writes a stand-in text model file (only its bytes matter here).
func writeModel(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustOpen(t testing.TB, dir, model string, dim int, log *slog.Logger) *Cache {
	t.Helper()
	c, err := Open(dir, model, dim, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// checkHits asserts that all of ps are cached with their vec values.
func checkHits(t *testing.T, c *Cache, ps []string) {
	t.Helper()
	out := make([]float32, len(ps)*c.Dim())
	if missing := c.Lookup(ps, out); len(missing) != 0 {
		t.Fatalf("missing %d of %d prompts, first %q", len(missing), len(ps), ps[missing[0]])
	}
	want := vecs(ps, c.Dim())
	for i := range want {
		if out[i] != want[i] {
			t.Fatalf("prompt %q value %d = %v, want %v", ps[i/c.Dim()], i%c.Dim(), out[i], want[i])
		}
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	model := writeModel(t, dir, "text_model.onnx", "model A")
	c := mustOpen(t, filepath.Join(dir, "cache"), model, 4, nil)
	ps := prompts("x", 10)
	out := make([]float32, len(ps)*4)
	if missing := c.Lookup(ps, out); len(missing) != len(ps) {
		t.Fatalf("empty cache: missing %v, want all %d", missing, len(ps))
	}
	if err := c.Add(ps, vecs(ps, 4)); err != nil {
		t.Fatal(err)
	}
	checkHits(t, c, ps)
	// A mix: the missing indices are exactly the new prompts, and their part
	// of out is untouched.
	mixed := []string{ps[0], "new one", ps[3], "new two"}
	out = make([]float32, 4*4)
	for i := range out {
		out[i] = -1
	}
	missing := c.Lookup(mixed, out)
	if fmt.Sprint(missing) != "[1 3]" {
		t.Fatalf("missing = %v, want [1 3]", missing)
	}
	if out[4] != -1 || out[15] != -1 || out[0] != vec(ps[0], 4)[0] {
		t.Fatalf("out = %v", out)
	}
	if got, want := filepath.Base(c.Path()), "text-"+c.ModelHash()[:16]+".bin"; got != want {
		t.Fatalf("file %s, want %s", got, want)
	}
	if c.Len() != len(ps) {
		t.Fatalf("Len = %d, want %d", c.Len(), len(ps))
	}
}

func TestRestartKeepsEntries(t *testing.T) {
	dir := t.TempDir()
	model := writeModel(t, dir, "m.onnx", "model A")
	cdir := filepath.Join(dir, "cache")
	c := mustOpen(t, cdir, model, 8, nil)
	ps := prompts("r", 100)
	if err := c.Add(ps[:60], vecs(ps[:60], 8)); err != nil {
		t.Fatal(err)
	}
	if err := c.Add(ps[60:], vecs(ps[60:], 8)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	st1, _ := os.Stat(c.Path())
	log, l := newLog()
	c2 := mustOpen(t, cdir, model, 8, l)
	checkHits(t, c2, ps)
	st2, _ := os.Stat(c2.Path())
	if st1.Size() != st2.Size() {
		t.Fatalf("file size changed on reopen: %d -> %d", st1.Size(), st2.Size())
	}
	if log.String() != "" {
		t.Fatalf("clean reopen logged: %s", log)
	}
	// Re-adding identical values writes nothing.
	if err := c2.Add(ps, vecs(ps, 8)); err != nil {
		t.Fatal(err)
	}
	st3, _ := os.Stat(c2.Path())
	if st3.Size() != st2.Size() {
		t.Fatalf("re-adding known prompts grew the file %d -> %d", st2.Size(), st3.Size())
	}
	// A changed value is appended and wins after a restart.
	changed := []float32{9, 9, 9, 9, 9, 9, 9, 9}
	if err := c2.Add(ps[:1], changed); err != nil {
		t.Fatal(err)
	}
	c2.Close()
	c3 := mustOpen(t, cdir, model, 8, nil)
	out := make([]float32, 8)
	c3.Lookup(ps[:1], out)
	if fmt.Sprint(out) != fmt.Sprint(changed) {
		t.Fatalf("after restart %v, want the later value %v", out, changed)
	}
}

func TestEncodeWithCacheEncodesOnlyNewPrompts(t *testing.T) {
	dir := t.TempDir()
	model := writeModel(t, dir, "m.onnx", "model A")
	cdir := filepath.Join(dir, "cache")
	var calls, encoded int
	encode := func(ps []string) ([]float32, error) {
		calls++
		encoded += len(ps)
		return vecs(ps, 16), nil
	}
	labels := prompts("cat", 50)
	c := mustOpen(t, cdir, model, 16, nil)
	emb, st, err := EncodeWithCache(c, labels, encode)
	if err != nil {
		t.Fatal(err)
	}
	if st != (Stats{Hits: 0, Encoded: 50}) || calls != 1 || encoded != 50 {
		t.Fatalf("first run: stats %+v, calls %d, encoded %d", st, calls, encoded)
	}
	if fmt.Sprint(emb) != fmt.Sprint(vecs(labels, 16)) {
		t.Fatal("first run: wrong embeddings")
	}
	c.Close()

	// Restart with an edited label set: 50 old, 5 new, one new prompt twice.
	edited := append(append([]string(nil), labels...), prompts("dog", 5)...)
	edited = append(edited, edited[52])
	calls, encoded = 0, 0
	c = mustOpen(t, cdir, model, 16, nil)
	emb, st, err = EncodeWithCache(c, edited, encode)
	if err != nil {
		t.Fatal(err)
	}
	if st != (Stats{Hits: 50, Encoded: 5}) || calls != 1 || encoded != 5 {
		t.Fatalf("edited run: stats %+v, calls %d, encoded %d; want 50 hits and 5 prompts encoded in one call", st, calls, encoded)
	}
	if fmt.Sprint(emb) != fmt.Sprint(vecs(edited, 16)) {
		t.Fatal("edited run: wrong embeddings")
	}
	// Nothing new: the encoder is not called at all.
	calls = 0
	if _, st, err = EncodeWithCache(c, edited, encode); err != nil || calls != 0 || st.Hits != len(edited) {
		t.Fatalf("all cached: stats %+v, calls %d, err %v", st, calls, err)
	}
	// Encoder errors and wrong sizes are reported.
	boom := errors.New("boom")
	if _, _, err := EncodeWithCache(c, []string{"zzz"}, func([]string) ([]float32, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("encoder error: got %v", err)
	}
	_, _, err = EncodeWithCache(c, []string{"zzz"}, func([]string) ([]float32, error) { return make([]float32, 3), nil })
	if err == nil || !strings.Contains(err.Error(), "returned 3 values for 1 prompts, want 16") {
		t.Fatalf("short encoder output: got %v", err)
	}
	// A nil cache encodes everything.
	calls, encoded = 0, 0
	if _, st, err := EncodeWithCache(nil, labels, encode); err != nil || encoded != 50 || st.Encoded != 50 {
		t.Fatalf("nil cache: stats %+v, encoded %d, err %v", st, encoded, err)
	}
}

func TestModelHashIsCachedAndKeysTheFile(t *testing.T) {
	dir := t.TempDir()
	cdir := filepath.Join(dir, "cache")
	a := writeModel(t, dir, "a.onnx", "model A")
	b := writeModel(t, dir, "b.onnx", "model B")
	ca := mustOpen(t, cdir, a, 4, nil)
	cb := mustOpen(t, cdir, b, 4, nil)
	if ca.Path() == cb.Path() {
		t.Fatalf("two text models share %s", ca.Path())
	}
	if err := ca.Add([]string{"p"}, vec("p", 4)); err != nil {
		t.Fatal(err)
	}
	if missing := cb.Lookup([]string{"p"}, make([]float32, 4)); len(missing) != 1 {
		t.Fatal("a prompt cached for model A is a hit for model B")
	}
	// The same content at another path is the same model.
	a2 := writeModel(t, dir, "a-copy.onnx", "model A")
	if c := mustOpen(t, cdir, a2, 4, nil); c.Path() != ca.Path() {
		t.Fatalf("same model content, different cache file: %s vs %s", c.Path(), ca.Path())
	}

	// The hash comes from the index while size and mtime are unchanged: plant
	// a different hash there and see it used.
	indexPath := filepath.Join(cdir, hashIndexName)
	raw, err := os.ReadFile(indexPath)
	if err != nil {
		t.Fatal(err)
	}
	index := map[string]hashEntry{}
	if err := json.Unmarshal(raw, &index); err != nil {
		t.Fatal(err)
	}
	absA, _ := filepath.Abs(a)
	e := index[absA]
	if e.SHA256 != ca.ModelHash() {
		t.Fatalf("index has %q for %s, want %s", e.SHA256, absA, ca.ModelHash())
	}
	e.SHA256 = strings.Repeat("ab", 32)
	index[absA] = e
	raw, _ = json.Marshal(index)
	if err := os.WriteFile(indexPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if c := mustOpen(t, cdir, a, 4, nil); c.ModelHash() != e.SHA256 {
		t.Fatalf("hash %s: the index entry was not used", c.ModelHash())
	}
	// Touching the model invalidates the entry: the real hash is back.
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(a, future, future); err != nil {
		t.Fatal(err)
	}
	if c := mustOpen(t, cdir, a, 4, nil); c.ModelHash() != ca.ModelHash() {
		t.Fatalf("after touching the model: hash %s, want %s", c.ModelHash(), ca.ModelHash())
	}
	// A damaged index is logged and replaced.
	if err := os.WriteFile(indexPath, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	log, l := newLog()
	if c := mustOpen(t, cdir, a, 4, l); c.ModelHash() != ca.ModelHash() {
		t.Fatal("damaged index: wrong hash")
	}
	if !strings.Contains(log.String(), indexPath) {
		t.Fatalf("damaged index not logged with its path: %s", log)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	model := writeModel(t, dir, "m.onnx", "m")
	for _, tc := range []struct {
		name, model string
		dim         int
		want        string
	}{
		{"zero dim", model, 0, "embedding size 0 out of range"},
		{"missing model", filepath.Join(dir, "nope.onnx"), 4, "nope.onnx: no such file"},
		{"model is a folder", dir, 4, "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(filepath.Join(dir, "cache"), tc.model, tc.dim, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestAddErrors(t *testing.T) {
	dir := t.TempDir()
	c := mustOpen(t, filepath.Join(dir, "cache"), writeModel(t, dir, "m.onnx", "m"), 4, nil)
	if err := c.Add([]string{"a", "b"}, make([]float32, 7)); err == nil || !strings.Contains(err.Error(), "2 prompts with 7 values, want 8") {
		t.Fatalf("wrong length: %v", err)
	}
	long := strings.Repeat("x", maxPrompt+1)
	if err := c.Add([]string{long}, make([]float32, 4)); err == nil || !strings.Contains(err.Error(), "prompt 0 is 65537 bytes long") {
		t.Fatalf("long prompt: %v", err)
	}
	c.Close()
	if err := c.Add([]string{"a"}, make([]float32, 4)); err == nil || !strings.Contains(err.Error(), "after Close") {
		t.Fatalf("after close: %v", err)
	}
}

// corruptCase damages a cache file holding prompts("c", 10) with dim 4.
type corruptCase struct {
	name   string
	damage func(t *testing.T, path string, offsets []int64)
	dim    int      // dim to reopen with (0: 4)
	reason string   // in the log line
	action string   // "truncating" or "rebuilt"
	kept   int      // prompts still cached after reopening
	logged []string // further words in the log
}

func TestCorruption(t *testing.T) {
	flip := func(off int64) func(*testing.T, string, []int64) {
		return func(t *testing.T, path string, _ []int64) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b[off] ^= 0x40
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	cut := func(from func(offs []int64) int64) func(*testing.T, string, []int64) {
		return func(t *testing.T, path string, offs []int64) {
			if err := os.Truncate(path, from(offs)); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []corruptCase{
		{name: "truncated tail mid-record", damage: cut(func(o []int64) int64 { return o[9] + 13 }),
			reason: "cut short", action: "truncating", kept: 9},
		{name: "truncated tail inside record header", damage: cut(func(o []int64) int64 { return o[9] + 3 }),
			reason: "cut short (3 of 8 header bytes)", action: "truncating", kept: 9},
		{name: "flipped byte in last record", damage: func(t *testing.T, p string, o []int64) { flip(o[9]+10)(t, p, o) },
			reason: "CRC mismatch", action: "truncating", kept: 9},
		{name: "flipped byte mid-file", damage: func(t *testing.T, p string, o []int64) { flip(o[4]+12)(t, p, o) },
			reason: "CRC mismatch", action: "rebuilt", kept: 4},
		{name: "flipped length byte mid-file", damage: func(t *testing.T, p string, o []int64) { flip(o[6]+2)(t, p, o) },
			reason: "prompt length", action: "rebuilt", kept: 6},
		{name: "wrong magic", damage: flip(0), reason: "bad magic", action: "rebuilt", kept: 0},
		{name: "flipped header byte", damage: flip(20), reason: "header CRC mismatch", action: "rebuilt", kept: 0},
		{name: "header cut short", damage: cut(func([]int64) int64 { return 20 }), reason: "header cut short (20 of 52 bytes)", action: "rebuilt", kept: 0},
		{name: "wrong dim", dim: 8, reason: "embedding size 4, want 8", action: "rebuilt", kept: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cdir := filepath.Join(dir, "cache")
			model := writeModel(t, dir, "m.onnx", "model A")
			ps := prompts("c", 10)
			c := mustOpen(t, cdir, model, 4, nil)
			var offs []int64
			for i := range ps {
				st, _ := os.Stat(c.Path())
				offs = append(offs, st.Size())
				if err := c.Add(ps[i:i+1], vec(ps[i], 4)); err != nil {
					t.Fatal(err)
				}
			}
			c.Close()
			if tc.damage != nil {
				tc.damage(t, c.Path(), offs)
			}
			dim := 4
			if tc.dim != 0 {
				dim = tc.dim
			}
			log, l := newLog()
			c2 := mustOpen(t, cdir, model, dim, l)
			got := log.String()
			for _, w := range append([]string{c.Path(), tc.reason, tc.action, fmt.Sprintf("kept=%d", tc.kept)}, tc.logged...) {
				if !strings.Contains(got, w) {
					t.Errorf("log lacks %q:\n%s", w, got)
				}
			}
			if n := strings.Count(got, "\n"); n != 1 {
				t.Errorf("%d log lines, want 1:\n%s", n, got)
			}
			if c2.Len() != tc.kept {
				t.Fatalf("%d prompts kept, want %d", c2.Len(), tc.kept)
			}
			if dim == 4 {
				checkHits(t, c2, ps[:tc.kept])
			}
			// The repaired file takes appends and reopens cleanly with
			// everything in it.
			rest := ps[tc.kept:]
			if err := c2.Add(rest, vecs(rest, dim)); err != nil {
				t.Fatal(err)
			}
			c2.Close()
			log, l = newLog()
			c3 := mustOpen(t, cdir, model, dim, l)
			if log.String() != "" {
				t.Fatalf("repaired file still logs: %s", log)
			}
			if dim == 4 {
				checkHits(t, c3, ps)
			} else if c3.Len() != len(rest) {
				t.Fatalf("%d prompts after repair, want %d", c3.Len(), len(rest))
			}
			entries, _ := os.ReadDir(cdir)
			for _, e := range entries {
				if strings.Contains(e.Name(), ".tmp") {
					t.Errorf("temporary file left behind: %s", e.Name())
				}
			}
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	dir := t.TempDir()
	cdir := filepath.Join(dir, "cache")
	model := writeModel(t, dir, "m.onnx", "model A")
	const dim = 8
	// Two Caches on the same file (as two processes would have) and several
	// goroutines on each.
	c1 := mustOpen(t, cdir, model, dim, nil)
	c2 := mustOpen(t, cdir, model, dim, nil)
	var wg sync.WaitGroup
	var all []string
	errs := make(chan error, 64)
	for g := range 8 {
		c := c1
		if g%2 == 1 {
			c = c2
		}
		ps := prompts(fmt.Sprintf("g%d", g), 40)
		shared := prompts("shared", 20)
		all = append(all, ps...)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < len(ps); i += 5 {
				batch := append(append([]string(nil), ps[i:i+5]...), shared[i/2%20])
				emb, _, err := EncodeWithCache(c, batch, func(q []string) ([]float32, error) { return vecs(q, dim), nil })
				if err != nil {
					errs <- err
					return
				}
				if fmt.Sprint(emb) != fmt.Sprint(vecs(batch, dim)) {
					errs <- fmt.Errorf("wrong embeddings for %q", batch)
					return
				}
				c.Lookup(ps[:i+5], make([]float32, (i+5)*dim))
				_ = c.Len()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c1.Close()
	c2.Close()
	log, l := newLog()
	c3 := mustOpen(t, cdir, model, dim, l)
	checkHits(t, c3, all)
	if log.String() != "" {
		t.Fatalf("file written concurrently is not clean: %s", log)
	}
}

func TestAppendAfterAnotherProcessRebuilt(t *testing.T) {
	dir := t.TempDir()
	cdir := filepath.Join(dir, "cache")
	model := writeModel(t, dir, "m.onnx", "model A")
	ps := prompts("p", 6)
	c1 := mustOpen(t, cdir, model, 4, nil)
	for i := range ps {
		if err := c1.Add(ps[i:i+1], vec(ps[i], 4)); err != nil {
			t.Fatal(err)
		}
	}
	// Damage record 3 on disk; a second process opens the cache and rebuilds
	// the file (by rename) from records 0-2.
	b, err := os.ReadFile(c1.Path())
	if err != nil {
		t.Fatal(err)
	}
	rec := 8 + len(ps[0]) + 16
	b[headerSize+3*rec+10] ^= 1
	if err := os.WriteFile(c1.Path(), b, 0o644); err != nil {
		t.Fatal(err)
	}
	log, l := newLog()
	c2 := mustOpen(t, cdir, model, 4, l)
	if c2.Len() != 3 || !strings.Contains(log.String(), "rebuilt") {
		t.Fatalf("second process: %d prompts, log %s", c2.Len(), log)
	}
	// The first process still reads what it knew (its file stays open), and
	// its next append goes to the new file, not the unlinked old one.
	checkHits(t, c1, ps)
	extra := []string{"added after the rebuild"}
	if err := c1.Add(extra, vec(extra[0], 4)); err != nil {
		t.Fatal(err)
	}
	checkHits(t, c1, append(ps, extra...))
	c1.Close()
	c2.Close()
	c3 := mustOpen(t, cdir, model, 4, nil)
	checkHits(t, c3, append(ps[:3:3], extra...))
	if c3.Len() != 4 {
		t.Fatalf("after both: %d prompts, want 4", c3.Len())
	}
	// A closed cache answers nothing and takes nothing.
	c3.Close()
	if missing := c3.Lookup(ps[:2], make([]float32, 8)); len(missing) != 2 {
		t.Fatalf("closed cache: missing %v", missing)
	}
}

func TestLookupPanicsOnWrongLength(t *testing.T) {
	dir := t.TempDir()
	c := mustOpen(t, filepath.Join(dir, "cache"), writeModel(t, dir, "m.onnx", "m"), 4, nil)
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "2 prompts with 4 values, want 8") {
			t.Fatalf("recovered %v", r)
		}
	}()
	c.Lookup([]string{"a", "b"}, make([]float32, 4))
}

func FuzzReadFile(f *testing.F) {
	var model [32]byte
	model[3] = 7
	const dim = 3
	valid := appendHeader(nil, dim, model)
	valid = appendRecord(valid, "a photo of a cat.", []float32{1, 2, 3})
	valid = appendRecord(valid, "", []float32{4, 5, 6})
	valid = appendRecord(valid, "ü", []float32{7, 8, 9})
	f.Add(valid)
	f.Add(valid[:len(valid)-5])
	f.Add(valid[:headerSize])
	f.Add(valid[:10])
	f.Add([]byte{})
	flipped := append([]byte(nil), valid...)
	flipped[headerSize+3] = 0xff
	f.Add(flipped)
	f.Fuzz(func(t *testing.T, data []byte) {
		c := readFile(bytes.NewReader(data), dim, model)
		if c.good > int64(len(data)) {
			t.Fatalf("good offset %d past the end %d", c.good, len(data))
		}
		if (c.kind == clean) != (c.reason == "") {
			t.Fatalf("kind %d with reason %q", c.kind, c.reason)
		}
		if c.kind == badHeader {
			if len(c.recs) != 0 || c.good != 0 {
				t.Fatalf("bad header but %d records", len(c.recs))
			}
			return
		}
		if c.kind == clean && c.good != int64(len(data)) {
			t.Fatalf("clean file but good offset %d of %d", c.good, len(data))
		}
		// Every record's vector lies whole inside the good prefix, and what
		// was read re-serialises to exactly that prefix.
		re := appendHeader(nil, dim, model)
		for i, r := range c.recs {
			if r.off < headerSize || r.off+4*dim > c.good {
				t.Fatalf("record %d: vector at %d..%d outside the good prefix %d", i, r.off, r.off+4*dim, c.good)
			}
			v := make([]float32, dim)
			decodeVector(v, data[r.off:r.off+4*dim])
			re = appendRecord(re, r.prompt, v)
		}
		if !bytes.Equal(re, data[:c.good]) {
			t.Fatal("records do not re-serialise to the good prefix")
		}
	})
}

// benchCache fills a cache with 80 templates x 1000 classes at dim 512.
func benchCache(b *testing.B) (*Cache, []string, string, string) {
	dir := b.TempDir()
	cdir := filepath.Join(dir, "cache")
	model := writeModel(b, dir, "m.onnx", "model A")
	c := mustOpen(b, cdir, model, 512, nil)
	var ps []string
	for tpl := range 80 {
		for cls := range 1000 {
			ps = append(ps, fmt.Sprintf("a photo of template %d showing a class-%d.", tpl, cls))
		}
	}
	emb := make([]float32, 512*1000)
	for i := 0; i < len(ps); i += 1000 {
		if err := c.Add(ps[i:i+1000], emb); err != nil {
			b.Fatal(err)
		}
	}
	return c, ps, cdir, model
}

func BenchmarkLookup80k(b *testing.B) {
	c, ps, _, _ := benchCache(b)
	out := make([]float32, len(ps)*512)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if missing := c.Lookup(ps, out); len(missing) != 0 {
			b.Fatal("misses")
		}
	}
	b.ReportMetric(float64(len(ps))*float64(b.N)/b.Elapsed().Seconds(), "prompts/s")
}

func BenchmarkOpen80k(b *testing.B) {
	c, _, cdir, model := benchCache(b)
	c.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		c, err := Open(cdir, model, 512, nil)
		if err != nil {
			b.Fatal(err)
		}
		if c.Len() != 80000 {
			b.Fatal(c.Len())
		}
		c.Close()
	}
}

// FuzzModelHashIndex feeds damaged model-hashes.json files to Open: it must
// not fail, and must use the real hash unless the entry matches the file.
func FuzzModelHashIndex(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"/x": {"size": 7, "mtime_ns": 1, "sha256": "zz"}}`))
	f.Add([]byte(`{"/x": {"size": "7"}}`))
	f.Add([]byte(`[1,2`))
	f.Add([]byte{0xff, 0})
	dir := f.TempDir()
	model := writeModel(f, dir, "m.onnx", "model A")
	c, err := Open(filepath.Join(dir, "ref"), model, 4, nil)
	if err != nil {
		f.Fatal(err)
	}
	want := c.ModelHash()
	c.Close()
	f.Fuzz(func(t *testing.T, index []byte) {
		cdir := t.TempDir()
		if err := os.WriteFile(filepath.Join(cdir, hashIndexName), index, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Open(cdir, model, 4, nil)
		if err != nil {
			t.Fatalf("Open with index %q: %v", index, err)
		}
		defer c.Close()
		if c.ModelHash() != want {
			t.Fatalf("index %q gave hash %s, want %s", index, c.ModelHash(), want)
		}
	})
}
