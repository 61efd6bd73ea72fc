package config

import (
	"fmt"
	"os"
)

// Check loads the config file at path and every label file in its
// labels.dir, and returns every problem it finds, each one error naming the
// file, the line where it can and the field (`labels/yard.yaml:7:
// classes[3]: empty class name`); nil when there is none. Beyond Load, it
// checks that model.dir, model.onnxruntime and the enabled cameras' file and
// folder sources exist, and that every enabled camera's label set loads.
// It never reads the MQTT password file's content, so no message holds the
// password. For `autoclipd check-config`.
func Check(path string) []error {
	cfg, err := Load(path)
	if err != nil {
		return Problems(err)
	}
	_, problems := cfg.Check()
	return problems
}

// Check is Check for a loaded config: it also returns the label sets that
// loaded, by name.
func (cfg *Config) Check() (map[string]*LabelSet, []error) {
	var out []error
	if err := cfg.checkExists("model.dir", cfg.Model.Dir, true); err != nil {
		out = append(out, err)
	}
	if cfg.Model.ONNXRuntime != "" {
		if err := cfg.checkExists("model.onnxruntime", cfg.Model.ONNXRuntime, false); err != nil {
			out = append(out, err)
		}
	}
	for i := range cfg.Cameras {
		cam := &cfg.Cameras[i]
		if !cam.Enabled || cam.Kind() != SourcePath {
			continue
		}
		if _, err := os.Stat(cam.Source); err != nil {
			out = append(out, cfg.Errorf(fmt.Sprintf("cameras[%d].source", i), "%s", unwrapPathError(err)+": "+cam.Source))
		}
	}
	sets, problems := cfg.CheckLabels()
	return sets, append(out, problems...)
}

// checkExists returns an error unless path exists and is a folder (dir) or
// not (!dir).
func (c *Config) checkExists(field, path string, dir bool) error {
	st, err := os.Stat(path)
	switch {
	case err != nil:
		return c.errorf(field, "%s", unwrapPathError(err)+": "+path)
	case dir && !st.IsDir():
		return c.errorf(field, "%s is a file, not a folder", path)
	case !dir && st.IsDir():
		return c.errorf(field, "%s is a folder, not a file", path)
	}
	return nil
}
