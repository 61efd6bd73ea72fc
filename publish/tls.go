package publish

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLSOptions configures TLS to the broker (URLs ssl://, tls://, mqtts://,
// tcps://). Fields are named as the daemon configuration spells them
// (mqtt.tls.ca and so on).
type TLSOptions struct {
	// CA is a PEM file of CA certificates that sign the broker's
	// certificate; the system roots when empty.
	CA string
	// Cert and Key are PEM files of a client certificate and its key, for
	// brokers that require one. Both or neither.
	Cert, Key string
	// InsecureSkipVerify accepts any broker certificate. Off by default;
	// only for testing.
	InsecureSkipVerify bool
}

func (t TLSOptions) set() bool {
	return t.CA != "" || t.Cert != "" || t.Key != "" || t.InsecureSkipVerify
}

// validate checks t without reading the files.
func (t TLSOptions) validate(tlsURL bool) error {
	if t.set() && !tlsURL {
		return errors.New("mqtt.tls: set but mqtt.url is not a TLS URL: use ssl://host:port (or tls://, mqtts://)")
	}
	if t.Cert != "" && t.Key == "" {
		return fmt.Errorf("mqtt.tls.key: empty while mqtt.tls.cert is %q: give both or neither", t.Cert)
	}
	if t.Key != "" && t.Cert == "" {
		return fmt.Errorf("mqtt.tls.cert: empty while mqtt.tls.key is %q: give both or neither", t.Key)
	}
	return nil
}

// Config reads the files and returns the client TLS configuration; errors
// name the field and the file.
func (t TLSOptions) Config() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // off unless configured
	if t.CA != "" {
		b, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("mqtt.tls.ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("mqtt.tls.ca: %s: no PEM certificate found", t.CA)
		}
		c.RootCAs = pool
	}
	if t.Cert != "" {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("mqtt.tls.cert %s, mqtt.tls.key %s: %w", t.Cert, t.Key, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
