package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadPassword: the first line of password_file; without one, the
// systemd credential; neither, no password; errors never carry the secret.
func TestReadPassword(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	must(t, os.WriteFile(file, []byte("s3cret\r\nignored\n"), 0o600))
	creds := filepath.Join(dir, "creds")
	must(t, os.Mkdir(creds, 0o700))
	must(t, os.WriteFile(filepath.Join(creds, CredentialName), []byte("from-systemd\n"), 0o600))

	t.Setenv("CREDENTIALS_DIRECTORY", creds)
	if pw, err := readPassword(file); err != nil || pw != "s3cret" {
		t.Errorf("password_file: %q, %v", pw, err)
	}
	if pw, err := readPassword(""); err != nil || pw != "from-systemd" {
		t.Errorf("credential: %q, %v", pw, err)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", filepath.Join(dir, "none"))
	if pw, err := readPassword(""); err != nil || pw != "" {
		t.Errorf("no credential: %q, %v", pw, err)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	if pw, err := readPassword(""); err != nil || pw != "" {
		t.Errorf("no credentials folder: %q, %v", pw, err)
	}
	_, err := readPassword(filepath.Join(dir, "missing"))
	if err == nil || !strings.Contains(err.Error(), "mqtt.password_file") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("missing file: %v", err)
	}
}
