// Package textcache keeps CLIP text embeddings on disk, keyed by the text
// model file's SHA-256 and the prompt, so that a restart or a label edit
// encodes only the prompts it has never seen.
//
// There is one file per text model in the cache folder,
// <dir>/text-<first 16 hex digits of the model's sha256>.bin: a header (magic,
// version, embedding size, model hash) followed by appended records, each with
// a CRC32C. An append cut short by a crash leaves a torn tail, which the next
// Open truncates; a damaged file (bad magic, bad CRC, wrong embedding size,
// another model) is logged with its path and the reason and rebuilt from the
// records that can still be trusted. The model's hash is itself cached, by
// path, size and modification time, in <dir>/model-hashes.json, so a large
// model is hashed once.
//
// Only an index (prompt -> file offset) is kept in memory; vectors are read
// from the file (the page cache, in practice) when looked up, so a large
// label set costs its embeddings' memory once, in the classifier, not twice.
//
// Several processes may share a cache folder: appends and repairs are
// serialised with flock(2).
package textcache

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
)

// Cache is the embedding cache of one text model. It is safe for concurrent
// use. Close it when done.
type Cache struct {
	path  string
	dim   int
	model [32]byte
	log   *slog.Logger

	mu      sync.RWMutex
	f       *os.File   // the file appends go to
	files   []*os.File // every file an entry points into (f among them)
	entries map[string]location
	closed  bool
}

// location is where a prompt's vector is stored.
type location struct {
	f   *os.File
	off int64
}

// Stats counts what EncodeWithCache did.
type Stats struct {
	// Hits is how many prompts came from the cache.
	Hits int
	// Encoded is how many distinct prompts were encoded.
	Encoded int
}

// Open opens (creating it if needed) the cache for the text model file
// modelPath and embedding size dim in the folder dir. A damaged cache file is
// not an error: it is logged on log and rebuilt. log may be nil.
func Open(dir, modelPath string, dim int, log *slog.Logger) (*Cache, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if dim < 1 || dim > maxDim {
		return nil, fmt.Errorf("textcache: embedding size %d out of range [1,%d]", dim, maxDim)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("textcache: cache folder: %w", err)
	}
	model, err := modelHash(dir, modelPath, log)
	if err != nil {
		return nil, err
	}
	c := &Cache{
		path:    filepath.Join(dir, fmt.Sprintf("text-%x.bin", model[:8])),
		dim:     dim,
		model:   model,
		log:     log,
		entries: map[string]location{},
	}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

// Path is the cache file's path.
func (c *Cache) Path() string { return c.path }

// Dim is the embedding size.
func (c *Cache) Dim() int { return c.dim }

// ModelHash is the text model file's SHA-256 in hex.
func (c *Cache) ModelHash() string { return fmt.Sprintf("%x", c.model) }

// Len is the number of cached prompts.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// lockFile opens the cache file and takes an exclusive flock on it, making
// sure the locked file is still the one at c.path (another process may have
// replaced it while we waited).
func (c *Cache) lockFile() (*os.File, error) {
	for range 10 {
		f, err := os.OpenFile(c.path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("textcache: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("textcache: locking %s: %w", c.path, err)
		}
		if same, err := sameFile(f, c.path); err != nil {
			f.Close()
			return nil, fmt.Errorf("textcache: %w", err)
		} else if same {
			return f, nil
		}
		f.Close()
	}
	return nil, fmt.Errorf("textcache: %s keeps being replaced by another process", c.path)
}

func sameFile(f *os.File, path string) (bool, error) {
	a, err := f.Stat()
	if err != nil {
		return false, err
	}
	b, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(a, b), nil
}

func unlock(f *os.File) { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

// load reads the file at c.path, repairing it if needed, and keeps it open.
func (c *Cache) load() error {
	f, err := c.lockFile()
	if err != nil {
		return err
	}
	keep := false
	defer func() {
		if !keep {
			f.Close()
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("textcache: %w", err)
	}
	var got contents
	if st.Size() == 0 {
		if _, err := f.Write(appendHeader(nil, c.dim, c.model)); err != nil {
			return fmt.Errorf("textcache: writing %s: %w", c.path, err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("textcache: writing %s: %w", c.path, err)
		}
	} else {
		got = readFile(f, c.dim, c.model)
	}
	switch got.kind {
	case clean:
	case tornTail:
		c.log.Warn("text embedding cache: truncating an interrupted append",
			"path", c.path, "reason", got.reason, "kept", len(got.recs))
		if err := f.Truncate(got.good); err != nil {
			return fmt.Errorf("textcache: truncating %s: %w", c.path, err)
		}
	default:
		c.log.Warn("text embedding cache: damaged file rebuilt",
			"path", c.path, "reason", got.reason, "kept", len(got.recs))
		nf, recs, err := c.rebuild(f, got.recs)
		if err != nil {
			return err
		}
		unlock(f)
		f.Close()
		f, got.recs = nf, recs
	}
	unlock(f)
	for _, r := range got.recs {
		c.entries[r.prompt] = location{f, r.off}
	}
	keep = true
	c.f = f
	c.files = append(c.files, f)
	return nil
}

// rebuild writes a fresh file with the records recs of old next to c.path,
// renames it over c.path and returns it, open and locked, with the records'
// new places.
func (c *Cache) rebuild(old *os.File, recs []record) (*os.File, []record, error) {
	tmp, err := os.CreateTemp(filepath.Dir(c.path), filepath.Base(c.path)+".tmp*")
	if err != nil {
		return nil, nil, fmt.Errorf("textcache: rebuilding %s: %w", c.path, err)
	}
	fail := func(err error) (*os.File, []record, error) {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, nil, fmt.Errorf("textcache: rebuilding %s: %w", c.path, err)
	}
	if err := syscall.Flock(int(tmp.Fd()), syscall.LOCK_EX); err != nil {
		return fail(err)
	}
	buf := appendHeader(nil, c.dim, c.model)
	written := int64(0)
	raw := make([]byte, 4*c.dim)
	vec := make([]float32, c.dim)
	moved := make([]record, 0, len(recs))
	for _, r := range recs {
		if _, err := old.ReadAt(raw, r.off); err != nil {
			return fail(err)
		}
		decodeVector(vec, raw)
		moved = append(moved, record{r.prompt, written + int64(len(buf)) + 8 + int64(len(r.prompt))})
		buf = appendRecord(buf, r.prompt, vec)
		if len(buf) >= 1<<20 {
			if _, err := tmp.Write(buf); err != nil {
				return fail(err)
			}
			written += int64(len(buf))
			buf = buf[:0]
		}
	}
	if _, err := tmp.Write(buf); err != nil {
		return fail(err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp.Name(), c.path); err != nil {
		return fail(err)
	}
	return tmp, moved, nil
}

// Lookup copies the embeddings of the cached prompts into out, which must hold
// len(prompts)*Dim() values (prompt i at out[i*Dim():]), and returns the
// indices of the prompts that are not cached; their part of out is left as it
// was. A vector that cannot be read back counts as missing. It panics if out
// has the wrong length. After Close every prompt is missing.
func (c *Cache) Lookup(prompts []string, out []float32) (missing []int) {
	if len(out) != len(prompts)*c.dim {
		panic(fmt.Sprintf("textcache: Lookup of %d prompts with %d values, want %d", len(prompts), len(out), len(prompts)*c.dim))
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	type hit struct {
		i   int
		loc location
	}
	hits := make([]hit, 0, len(prompts))
	for i, p := range prompts {
		if loc, ok := c.entries[p]; ok {
			hits = append(hits, hit{i, loc})
		} else {
			missing = append(missing, i)
		}
	}
	if len(hits) == 0 {
		return missing
	}
	// Read runs of nearby records with one pread each: prompts added
	// together are stored together.
	fileIndex := func(f *os.File) int { return slices.Index(c.files, f) }
	slices.SortFunc(hits, func(a, b hit) int {
		if d := fileIndex(a.loc.f) - fileIndex(b.loc.f); d != 0 {
			return d
		}
		return int(a.loc.off - b.loc.off)
	})
	vb := int64(4 * c.dim)
	var buf []byte
	for start := 0; start < len(hits); {
		first := hits[start].loc
		lo, hi := first.off, first.off+vb
		end := start + 1
		for ; end < len(hits); end++ {
			next := hits[end].loc
			if next.f != first.f || next.off-hi > maxGap || next.off+vb-lo > maxRun {
				break
			}
			hi = max(hi, next.off+vb)
		}
		if int64(cap(buf)) < hi-lo {
			buf = make([]byte, hi-lo)
		}
		buf = buf[:hi-lo]
		if _, err := first.f.ReadAt(buf, lo); err != nil {
			for _, h := range hits[start:end] {
				missing = append(missing, h.i)
			}
		} else {
			for _, h := range hits[start:end] {
				decodeVector(out[h.i*c.dim:(h.i+1)*c.dim], buf[h.loc.off-lo:])
			}
		}
		start = end
	}
	slices.Sort(missing)
	return missing
}

// Lookup reads records at most maxGap bytes apart with one read of at most
// maxRun bytes.
const (
	maxGap = 4 << 10
	maxRun = 1 << 20
)

// Add stores the embeddings of prompts (emb holds len(prompts)*Dim() values,
// prompt i at emb[i*Dim():]), appending them to the file in one write.
// Prompts already cached with the same values are skipped; a later value for
// a prompt replaces the earlier one.
func (c *Cache) Add(prompts []string, emb []float32) error {
	if len(emb) != len(prompts)*c.dim {
		return fmt.Errorf("textcache: Add of %d prompts with %d values, want %d", len(prompts), len(emb), len(prompts)*c.dim)
	}
	for i, p := range prompts {
		if len(p) > maxPrompt {
			return fmt.Errorf("textcache: prompt %d is %d bytes long, more than %d: %.40q...", i, len(p), maxPrompt, p)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errors.New("textcache: Add after Close")
	}
	var (
		buf  []byte
		recs []record // offsets relative to the start of buf
		raw  = make([]byte, 4*c.dim)
		have = make([]float32, c.dim)
		last = map[string]int{} // prompt -> index in recs
	)
	for i, p := range prompts {
		v := emb[i*c.dim : (i+1)*c.dim]
		if j, ok := last[p]; ok {
			decodeVector(have, buf[recs[j].off:])
			if equal(have, v) {
				continue
			}
		} else if loc, ok := c.entries[p]; ok {
			if _, err := loc.f.ReadAt(raw, loc.off); err == nil {
				decodeVector(have, raw)
				if equal(have, v) {
					continue
				}
			}
		}
		last[p] = len(recs)
		recs = append(recs, record{p, int64(len(buf)) + 8 + int64(len(p))})
		buf = appendRecord(buf, p, v)
	}
	if len(buf) == 0 {
		return nil
	}
	end, err := c.append(buf)
	if err != nil {
		return err
	}
	for _, r := range recs {
		c.entries[r.prompt] = location{c.f, end + r.off}
	}
	return nil
}

// append writes buf at the end of the cache file and returns where it went.
func (c *Cache) append(buf []byte) (int64, error) {
	f := c.f
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return 0, fmt.Errorf("textcache: locking %s: %w", c.path, err)
	}
	same, err := sameFile(f, c.path)
	if err != nil {
		unlock(f)
		return 0, fmt.Errorf("textcache: %w", err)
	}
	if !same {
		// Another process rebuilt the file: append to the new one. Entries
		// already known stay readable in the old one, which stays open.
		unlock(f)
		nf, err := c.lockFile()
		if err != nil {
			return 0, err
		}
		c.f, f = nf, nf
		c.files = append(c.files, nf)
	}
	defer unlock(f)
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, fmt.Errorf("textcache: %s: %w", c.path, err)
	}
	if end < headerSize {
		return 0, fmt.Errorf("textcache: %s: file shrank to %d bytes under us", c.path, end)
	}
	if _, err := f.Write(buf); err != nil {
		// Leave no half record behind for the next append.
		_ = f.Truncate(end)
		return 0, fmt.Errorf("textcache: appending to %s: %w", c.path, err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("textcache: appending to %s: %w", c.path, err)
	}
	return end, nil
}

func equal(a, b []float32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

// Close closes the cache's files. Afterwards Lookup reports every prompt
// missing and Add fails.
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	c.entries = map[string]location{}
	var err error
	for _, f := range c.files {
		err = errors.Join(err, f.Close())
	}
	c.files, c.f = nil, nil
	return err
}

// EncodeWithCache returns the embeddings of prompts, [len(prompts)][D], taking
// what it can from c and encoding only the rest, each distinct prompt once,
// with one call to encode (which must return len(its argument)*D values). The
// newly encoded embeddings are added to c; a failure to write them is logged,
// not returned, since the embeddings themselves are good. A nil c encodes
// everything.
func EncodeWithCache(c *Cache, prompts []string, encode func([]string) ([]float32, error)) ([]float32, Stats, error) {
	if c == nil {
		emb, err := encode(prompts)
		return emb, Stats{Encoded: len(prompts)}, err
	}
	d := c.dim
	out := make([]float32, len(prompts)*d)
	missing := c.Lookup(prompts, out)
	st := Stats{Hits: len(prompts) - len(missing)}
	if len(missing) == 0 {
		return out, st, nil
	}
	var todo []string
	index := map[string]int{} // prompt -> row in todo
	for _, i := range missing {
		if _, ok := index[prompts[i]]; !ok {
			index[prompts[i]] = len(todo)
			todo = append(todo, prompts[i])
		}
	}
	emb, err := encode(todo)
	if err != nil {
		return nil, st, err
	}
	if len(emb) != len(todo)*d {
		return nil, st, fmt.Errorf("textcache: encoder returned %d values for %d prompts, want %d (embedding size %d)", len(emb), len(todo), len(todo)*d, d)
	}
	st.Encoded = len(todo)
	for _, i := range missing {
		j := index[prompts[i]]
		copy(out[i*d:(i+1)*d], emb[j*d:(j+1)*d])
	}
	if err := c.Add(todo, emb); err != nil {
		c.log.Warn("text embedding cache: not saved", "path", c.path, "prompts", len(todo), "err", err)
	}
	return out, st, nil
}
