package mqtttest

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

func tlsConfig(t *testing.T, p *PKI, withClientCert bool) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(p.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("CA file has no certificate")
	}
	c := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if withClientCert {
		cert, err := tls.LoadX509KeyPair(p.ClientCert, p.ClientKey)
		if err != nil {
			t.Fatal(err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c
}

func mqttConnectsTLS(url string, c *tls.Config) error {
	cl := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("mqtttest-" + randomID()).
		SetConnectTimeout(3 * time.Second).SetTLSConfig(c))
	tok := cl.Connect()
	if !tok.WaitTimeout(5 * time.Second) {
		return os.ErrDeadlineExceeded
	}
	if tok.Error() == nil {
		cl.Disconnect(50)
	}
	return tok.Error()
}

func TestMosquittoTLSRequiresClientCertificate(t *testing.T) {
	p := NewPKI(t)
	m := StartMosquittoWith(t, MosquittoConfig{TLS: p.Server(), RequireCertificate: true})
	if !strings.HasPrefix(m.URL(), "ssl://127.0.0.1:") {
		t.Fatalf("URL %q", m.URL())
	}
	if err := mqttConnectsTLS(m.URL(), tlsConfig(t, p, true)); err != nil {
		t.Fatalf("with the client certificate: %v", err)
	}
	if err := mqttConnectsTLS(m.URL(), tlsConfig(t, p, false)); err == nil {
		t.Error("connected without a client certificate")
	}
	other := NewPKI(t)
	err := mqttConnectsTLS(m.URL(), tlsConfig(t, other, true))
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("with another CA: %v, want a certificate error", err)
	}
	if mqttConnects("tcp://" + m.Addr()) {
		t.Error("plain MQTT accepted by the TLS listener")
	}
	if m.PlainAddr() == m.Addr() || !mqttConnects("tcp://"+m.PlainAddr()) {
		t.Errorf("no plain listener for subscribers at %s", m.PlainAddr())
	}
}
