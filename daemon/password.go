package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// CredentialName is the systemd credential holding the MQTT password
// (LoadCredential=mqtt-password:/etc/autoclipd/mqtt-password).
const CredentialName = "mqtt-password"

// readPassword reads the MQTT password from path, or, when path is "", from
// the systemd credential $CREDENTIALS_DIRECTORY/mqtt-password if there is
// one. Only the first line counts, without its line ending. The password
// never appears in errors or logs.
func readPassword(path string) (string, error) {
	field := "mqtt.password_file"
	if path == "" {
		dir := os.Getenv("CREDENTIALS_DIRECTORY")
		if dir == "" {
			return "", nil
		}
		path = filepath.Join(dir, CredentialName)
		if _, err := os.Stat(path); err != nil {
			return "", nil // no such credential: no password
		}
		field = "credential " + CredentialName
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return strings.TrimRight(line, "\r"), nil
}
