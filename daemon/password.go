package daemon

import (
	"fmt"
	"os"
	"strings"
)

// readPassword reads the MQTT password from path ("" means none). Only the
// first line counts, without its line ending.
func readPassword(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("mqtt.password_file: %w", err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return strings.TrimRight(line, "\r"), nil
}
