package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/autoclipd/autoclipd/capture"
	"github.com/autoclipd/autoclipd/config"
	"github.com/autoclipd/autoclipd/daemon"
	"github.com/autoclipd/autoclipd/ops"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

const usage = `autoclipd classifies camera frames zero-shot with CLIP and publishes them over MQTT.

Usage:
  autoclipd run --config FILE            run the daemon
  autoclipd check-config --config FILE   validate the config and its label sets, then exit
  autoclipd demo [--out DIR]             write the demo model, video, labels and config (default DIR: demo)
  autoclipd classify --config FILE [--labels SET] [--top N] [--json] IMAGE|VIDEO ...
                                         classify images or sampled video frames once
  autoclipd eval --images IMG.npy --text TXT.npy [--labels Y.npy] [--method M|all] ...
                                         evaluate the scoring methods on exported embeddings
  autoclipd tokenize (--model DIR | --vocab FILE) [TEXT ...]
                                         print CLIP token ids, one line per text (or stdin line)
  autoclipd preprocess --model DIR IMAGE --out T.npy
                                         write the [3,H,W] tensor the image encoder would see
  autoclipd bench [--model DIR] [--video FILE] [--batch N] [--seconds S] [--json]
                                         measure the bare encoder and the whole pipeline
  autoclipd version                      print the version

Run 'autoclipd COMMAND -h' for a command's flags.
`

// run is the whole program: it parses args, runs a subcommand and returns the
// exit code. Tests call it directly.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "run":
		err = cmdRun(ctx, rest, stderr)
	case "check-config":
		err = cmdCheckConfig(rest, stdout, stderr)
	case "demo":
		err = cmdDemo(rest, stdout, stderr)
	case "eval":
		err = cmdEval(rest, stdout, stderr)
	case "tokenize":
		err = cmdTokenize(rest, stdin, stdout, stderr)
	case "preprocess":
		err = cmdPreprocess(rest, stdout, stderr)
	case "classify":
		err = cmdClassify(ctx, rest, stdout, stderr)
	case "bench":
		err = cmdBench(ctx, rest, stdout, stderr)
	case "version", "--version":
		fmt.Fprintf(stdout, "autoclipd %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "autoclipd: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "autoclipd %s: %v\n", cmd, ue.err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "autoclipd: %s\n", oneLine(err.Error()))
		return exitError
	}
}

// usageError marks bad command-line arguments (exit code 2).
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("autoclipd "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// flagErr passes -h through and marks other flag errors as usage errors.
func flagErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageError{err}
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return flagErr(err)
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return nil, usageError{errors.New("--config FILE is required")}
	}
	return config.Load(path)
}

func newLogger(w io.Writer, cfg config.Log) *slog.Logger {
	var level slog.LevelVar
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: &level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func cmdRun(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("run", stderr)
	path := fs.String("config", "", "config `FILE` (YAML)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.Log)
	log.Info("autoclipd starting", "version", version, "config", cfg.Path)
	// FFmpeg gives up a hung network read after 30 s by itself; make it
	// the cameras' stall timeout, so an abandoned read ends soon after.
	if os.Getenv(capture.FFmpegOptionsEnv) == "" {
		stall := time.Duration(0)
		for _, cc := range cfg.Cameras {
			stall = max(stall, cc.StallTimeout)
		}
		if stall > 0 {
			os.Setenv(capture.FFmpegOptionsEnv, capture.FFmpegOptions(stall))
		}
	}

	// systemd: READY/RELOADING/STOPPING/STATUS and a watchdog that pets
	// only while the frame loops are alive. Without NOTIFY_SOCKET these do
	// nothing.
	n := ops.NewNotifier(log.With("component", "systemd"))
	notify := &sdNotify{n: n}
	if iv, err := ops.WatchdogInterval(); err != nil {
		log.Warn("systemd watchdog", "err", err)
	} else if iv > 0 {
		notify.w = ops.NewWatchdog(n, iv)
		wctx, stop := context.WithCancel(ctx)
		defer stop()
		go func() { _ = notify.w.Run(wctx) }()
		log.Info("systemd watchdog on", "interval", iv)
	}
	reg := ops.NewRegistry()
	metrics, err := ops.NewMetrics(reg)
	if err != nil {
		return err
	}
	return daemon.Run(ctx, cfg, daemon.Options{
		Log: log, Notify: notify, Reload: watchHangup(ctx, cfg.Path, log),
		Version: version, Metrics: metrics, Registry: reg,
	})
}

// sdNotify adapts ops' systemd notifier and watchdog to daemon.Notifier.
type sdNotify struct {
	n *ops.Notifier
	w *ops.Watchdog
}

func (s *sdNotify) Ready()          { _ = s.n.Ready() }
func (s *sdNotify) Reloading()      { _ = s.n.Reloading() }
func (s *sdNotify) Stopping()       { _ = s.n.Stopping() }
func (s *sdNotify) Status(m string) { _ = s.n.Status(m) }
func (s *sdNotify) Alive() {
	if s.w != nil {
		s.w.Alive()
	}
}

// watchHangup re-reads the config file on every SIGHUP and delivers the
// configs that load; one that does not is logged and ignored.
func watchHangup(ctx context.Context, path string, log *slog.Logger) <-chan *config.Config {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	out := make(chan *config.Config)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			cfg, err := config.Load(path)
			if err != nil {
				log.Error("config reload: keeping the running config", "err", oneLine(err.Error()))
				continue
			}
			log.Info("config reloaded", "config", path)
			select {
			case out <- cfg:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

func cmdCheckConfig(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check-config", stderr)
	path := fs.String("config", "", "config `FILE` (YAML)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return usageError{errors.New("--config FILE is required")}
	}
	var (
		sets     map[string]*config.LabelSet
		problems []error
	)
	cfg, err := config.Load(*path)
	if err != nil {
		problems = config.Problems(err)
	} else {
		sets, problems = cfg.Check()
		// What capture refuses (device settings on a file, say), it
		// refuses without opening anything.
		for i, cc := range cfg.Cameras {
			if _, err := capture.New(daemon.CaptureConfig(cc), nil); err != nil {
				problems = append(problems, cfg.Errorf(fmt.Sprintf("cameras[%d]", i), "%v", err))
			}
		}
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stdout, oneLine(p.Error()))
		}
		return fmt.Errorf("%s: %d problem(s)", *path, len(problems))
	}
	names := make([]string, 0, len(sets))
	for n := range sets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		set := sets[n]
		fmt.Fprintf(stdout, "label set %s: %d classes x %d templates\n", set.Name, len(set.Classes), len(set.Templates))
	}
	fmt.Fprintf(stdout, "%s: ok (%d cameras)\n", cfg.Path, len(cfg.Cameras))
	return nil
}
