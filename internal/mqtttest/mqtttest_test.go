package mqtttest

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// publish sends one message with a fresh client and waits for the PUBACK.
func publish(t *testing.T, addr, topic, payload string, retained bool) {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("mqtttest-pub-" + randomID()))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect to %s: %v", addr, tok.Error())
	}
	defer c.Disconnect(100)
	if tok := c.Publish(topic, 1, retained, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

func dialable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func TestMosquittoStop(t *testing.T) {
	addr, stop := Mosquitto(t)
	if !dialable(addr) {
		t.Fatalf("mosquitto not listening on %s", addr)
	}
	stop()
	if dialable(addr) {
		t.Errorf("still listening on %s after stop", addr)
	}
	stop() // idempotent
}

func TestMosquittoRestartKeepsPortAndSubscriber(t *testing.T) {
	m := StartMosquitto(t)
	addr := m.Addr()
	if m.URL() != "tcp://"+addr {
		t.Errorf("URL %q", m.URL())
	}
	sub := Subscribe(t, addr, "t/#")
	publish(t, addr, "t/a", "one", true)
	got, err := sub.Next(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got.Topic != "t/a" || string(got.Payload) != "one" || got.QoS != 1 {
		t.Errorf("got %v qos %d", got, got.QoS)
	}

	m.Kill()
	if dialable(addr) {
		t.Fatalf("still listening on %s after Kill", addr)
	}
	m.Start()
	if m.Addr() != addr || !dialable(addr) {
		t.Fatalf("after Start: addr %s (was %s), dialable %v", m.Addr(), addr, dialable(addr))
	}
	m.Restart()
	// The subscriber reconnects and subscribes again by itself; retry the
	// publish until it is back.
	deadline := time.Now().Add(10 * time.Second)
	for {
		publish(t, addr, "t/b", "two", false)
		if _, err := sub.WaitFor(func(m Message) bool { return m.Topic == "t/b" }, 300*time.Millisecond); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscriber did not come back after the restart; got %v", sub.All())
		}
	}
	// No persistence: the retained message did not survive the restarts.
	late := Subscribe(t, addr, "t/a")
	if m, err := late.Next(300 * time.Millisecond); err == nil {
		t.Errorf("retained message survived the restart: %v", m)
	}
}

func TestSubWaitFor(t *testing.T) {
	addr, _ := Mosquitto(t)
	sub := Subscribe(t, addr, "w/+")
	for _, p := range []string{"1", "2", "3"} {
		publish(t, addr, "w/"+p, p, false)
	}
	m, err := sub.WaitFor(func(m Message) bool { return string(m.Payload) == "2" }, 5*time.Second)
	if err != nil || m.Topic != "w/2" {
		t.Fatalf("WaitFor: %v %v", m, err)
	}
	m, err = sub.Next(5 * time.Second)
	if err != nil || string(m.Payload) != "3" {
		t.Fatalf("Next after WaitFor: %v %v, want w/3", m, err)
	}
	if sub.Len() != 3 || len(sub.All()) != 3 {
		t.Errorf("Len %d, All %v", sub.Len(), sub.All())
	}
	_, err = sub.WaitFor(func(Message) bool { return false }, 50*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), `no matching message on "w/+" within 50ms`) {
		t.Errorf("timeout error %v", err)
	}
	_, err = sub.Next(10 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "(3 received in all)") {
		t.Errorf("Next timeout error %v", err)
	}
}

func TestProxyCutFiresWill(t *testing.T) {
	addr, _ := Mosquitto(t)
	proxy := NewProxy(t, addr)
	sub := Subscribe(t, addr, "will/#")

	c := mqtt.NewClient(mqtt.NewClientOptions().
		AddBroker(proxy.URL()).
		SetClientID("mqtttest-will").
		SetAutoReconnect(false).
		SetWill("will/x", "gone", 1, false))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect through the proxy: %v", tok.Error())
	}
	if n := proxy.Conns(); n != 1 {
		t.Fatalf("proxy forwards %d connections, want 1", n)
	}
	if n := proxy.Cut(); n != 1 {
		t.Fatalf("Cut closed %d connections, want 1", n)
	}
	if _, err := sub.WaitFor(func(m Message) bool { return m.Topic == "will/x" && string(m.Payload) == "gone" }, 5*time.Second); err != nil {
		t.Fatalf("no last will after the cut: %v", err)
	}
	if n := proxy.Conns(); n != 0 {
		t.Errorf("%d connections left after Cut", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.IsConnectionOpen() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if c.IsConnectionOpen() {
		t.Error("client still connected after the cut")
	}

	proxy.Close()
	if dialable(proxy.Addr()) {
		t.Error("proxy still accepting after Close")
	}
}

func TestFreePort(t *testing.T) {
	p := FreePort(t)
	if low := ephemeralLow(); low > 11000 && (p < 10000 || p >= low) {
		t.Errorf("port %d not in [10000, %d)", p, low)
	}
	l, err := net.Listen("tcp", FreeAddr(t))
	if err != nil {
		t.Fatalf("FreeAddr not free: %v", err)
	}
	l.Close()
}

func TestProxyDownUp(t *testing.T) {
	addr, _ := Mosquitto(t)
	proxy := NewProxy(t, addr)
	if !mqttConnects(proxy.URL()) {
		t.Fatal("no MQTT connection through the proxy")
	}
	proxy.Down()
	if mqttConnects(proxy.URL()) {
		t.Fatal("MQTT connection through the proxy while down")
	}
	proxy.Up()
	if !mqttConnects(proxy.URL()) {
		t.Fatal("no MQTT connection through the proxy after Up")
	}
}

func mqttConnects(url string) bool {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("mqtttest-" + randomID()).SetConnectTimeout(2 * time.Second))
	tok := c.Connect()
	ok := tok.WaitTimeout(3*time.Second) && tok.Error() == nil
	if ok {
		c.Disconnect(50)
	}
	return ok
}

func TestProxyDelay(t *testing.T) {
	addr, _ := Mosquitto(t)
	proxy := NewProxy(t, addr)
	measure := func() time.Duration {
		start := time.Now()
		if !mqttConnects(proxy.URL()) { // CONNECT/CONNACK: one round trip at least
			t.Fatal("no connection through the proxy")
		}
		return time.Since(start)
	}
	measure() // warm up
	proxy.SetDelay(100 * time.Millisecond)
	if d := measure(); d < 200*time.Millisecond {
		t.Errorf("connection through a proxy with 100 ms each way took %s, less than one round trip", d)
	}
	proxy.SetDelay(0)
}

func TestMosquittoUsers(t *testing.T) {
	m := StartMosquittoWith(t, MosquittoConfig{Users: map[string]string{"cam": "s3cret"}})
	connect := func(user, pass string) error {
		o := mqtt.NewClientOptions().AddBroker(m.URL()).SetClientID("mqtttest-" + randomID()).SetConnectTimeout(2 * time.Second)
		if user != "" {
			o.SetUsername(user).SetPassword(pass)
		}
		c := mqtt.NewClient(o)
		tok := c.Connect()
		if !tok.WaitTimeout(5 * time.Second) {
			return os.ErrDeadlineExceeded
		}
		if tok.Error() == nil {
			c.Disconnect(50)
		}
		return tok.Error()
	}
	if err := connect("cam", "s3cret"); err != nil {
		t.Errorf("right password: %v", err)
	}
	if err := connect("cam", "wrong"); err == nil {
		t.Error("wrong password accepted")
	}
	if err := connect("", ""); err != nil {
		t.Errorf("anonymous: %v", err)
	}
}
