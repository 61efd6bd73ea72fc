// Package inference runs CLIP's image and text encoders through ONNX Runtime.
//
// The ONNX Runtime shared library is loaded at run time; FindLibrary locates
// it and Open initialises it. Model files are read for their input and output
// names, shapes and element types rather than assuming them. Embeddings leave
// this package L2-normalised.
package inference

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// LibraryEnv is the environment variable that names the ONNX Runtime library.
const LibraryEnv = "ORT_LIB"

// libraryNames are the file names searched for in the system's library paths.
var libraryNames = []string{"libonnxruntime.so", "libonnxruntime.so.1"}

// libFinder searches for the library; its fields are the outside world, so
// tests can give it their own.
type libFinder struct {
	getenv   func(string) string
	goarch   string
	ldconfig func() string // path from the dynamic linker's cache, or ""
}

// dirs returns the folders searched for the library, in order:
// LD_LIBRARY_PATH, then the usual system folders for this architecture.
func (f libFinder) dirs() []string {
	var dirs []string
	for _, d := range filepath.SplitList(f.getenv("LD_LIBRARY_PATH")) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	triplet := map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}[f.goarch]
	dirs = append(dirs, "/usr/local/lib")
	if triplet != "" {
		dirs = append(dirs, "/usr/local/lib/"+triplet, "/usr/lib/"+triplet)
	}
	return append(dirs, "/usr/lib", "/usr/lib/autoclipd", "/opt/onnxruntime/lib")
}

// FindLibrary locates libonnxruntime.so: the configured path first (the
// config's model.onnxruntime; "" if none), then $ORT_LIB, then the system's
// library paths and the dynamic linker's cache. A miss names all three.
func FindLibrary(configured string) (string, error) {
	return libFinder{getenv: os.Getenv, goarch: runtime.GOARCH, ldconfig: fromLdconfig}.find(configured)
}

func (f libFinder) find(configured string) (string, error) {
	if configured != "" {
		if err := checkFile(configured); err != nil {
			return "", fmt.Errorf("model.onnxruntime: %w", err)
		}
		return configured, nil
	}
	if env := f.getenv(LibraryEnv); env != "" {
		if err := checkFile(env); err != nil {
			return "", fmt.Errorf("%s: %w", LibraryEnv, err)
		}
		return env, nil
	}
	dirs := f.dirs()
	for _, d := range dirs {
		for _, n := range libraryNames {
			p := filepath.Join(d, n)
			if checkFile(p) == nil {
				return p, nil
			}
		}
	}
	if p := f.ldconfig(); p != "" {
		return p, nil
	}
	return "", fmt.Errorf("ONNX Runtime library not found: model.onnxruntime is not set, %s is not set, and there is no %s in the system library paths (%s) or ldconfig's cache; run `make ort` or set %s to the library's path",
		LibraryEnv, strings.Join(libraryNames, " or "), strings.Join(dirs, ":"), LibraryEnv)
}

func checkFile(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		if os.IsNotExist(err) {
			return fmt.Errorf("%s: no such file", p)
		}
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%s: is a directory, want the path of libonnxruntime.so", p)
	}
	return nil
}

func fromLdconfig() string {
	path, err := exec.LookPath("ldconfig")
	if err != nil {
		path = "/sbin/ldconfig"
	}
	out, err := exec.Command(path, "-p").Output()
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		for _, n := range libraryNames {
			if strings.HasPrefix(line, n+" ") {
				if i := strings.LastIndex(line, "=> "); i >= 0 {
					p := strings.TrimSpace(line[i+3:])
					if checkFile(p) == nil {
						return p
					}
				}
			}
		}
	}
	return ""
}

// Runtime is an initialised ONNX Runtime. ONNX Runtime's environment is
// process-wide (onnxruntime_go keeps it in package state), so every Runtime in
// a process shares one: the first Open loads the library, the last Close
// releases it, and opening a different library while one is loaded is an
// error.
type Runtime struct {
	lib    string
	closed bool
}

// process-wide ONNX Runtime environment bookkeeping; see Runtime.
var env struct {
	sync.Mutex
	lib  string
	refs int
}

// Open loads the ONNX Runtime library at lib (see FindLibrary).
func Open(lib string) (*Runtime, error) {
	env.Lock()
	defer env.Unlock()
	if env.refs > 0 {
		if env.lib != lib {
			return nil, fmt.Errorf("onnxruntime: %s is already loaded in this process, cannot load %s", env.lib, lib)
		}
		env.refs++
		return &Runtime{lib: lib}, nil
	}
	ort.SetSharedLibraryPath(lib)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return nil, fmt.Errorf("onnxruntime: loading %s: %w", lib, err)
	}
	env.lib, env.refs = lib, 1
	return &Runtime{lib: lib}, nil
}

// Library is the path of the loaded library.
func (r *Runtime) Library() string { return r.lib }

// Version is the loaded ONNX Runtime's version.
func (r *Runtime) Version() string { return ort.GetVersion() }

// Close releases this handle; the library is unloaded with the last one.
func (r *Runtime) Close() error {
	env.Lock()
	defer env.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	env.refs--
	if env.refs == 0 {
		env.lib = ""
		if err := ort.DestroyEnvironment(); err != nil {
			return fmt.Errorf("onnxruntime: %w", err)
		}
	}
	return nil
}

// errClosed is returned by encoders used after Close.
var errClosed = errors.New("inference: encoder is closed")
