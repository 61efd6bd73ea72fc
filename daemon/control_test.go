package daemon

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/autoclipd/autoclipd/config"
	"github.com/autoclipd/autoclipd/internal/mqtttest"
)

func publishTo(t *testing.T, addr, topic, payload string) {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("ctl-test"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
}

// TestControlTopicsAndDiscovery: Home Assistant discovery configs are
// retained and parse, and are sent again after HA's birth message; a camera
// switched OFF stops publishing and ON starts again; a label set switch
// takes effect; each state is echoed retained.
func TestControlTopicsAndDiscovery(t *testing.T) {
	s := newSetup(t, "red")
	s.writeLabels("warm", []string{"red", "orange", "yellow"})
	cfg := s.config("cam=red")
	path := cfg.Path
	data, err := os.ReadFile(path)
	must(t, err)
	must(t, os.WriteFile(path, append(data, []byte("homeassistant:\n  enabled: true\n  prefix: ha\n")...), 0o644))
	cfg, err = config.Load(path)
	must(t, err)

	ha := mqtttest.Subscribe(t, s.broker, "ha/#")
	sub := mqtttest.Subscribe(t, s.broker, "t/dev/#")
	r := start(t, cfg, Options{Version: "test"})

	isConfig := func(m mqtttest.Message) bool { return strings.HasSuffix(m.Topic, "/config") && len(m.Payload) > 0 }
	if _, err := ha.WaitFor(isConfig, 30*time.Second); err != nil {
		t.Fatalf("no discovery config: %v; log:\n%s", err, r.log.String())
	}
	time.Sleep(500 * time.Millisecond)
	first := 0
	for _, m := range ha.All() {
		if !isConfig(m) {
			continue
		}
		first++
		var v map[string]any
		if err := json.Unmarshal(m.Payload, &v); err != nil {
			t.Errorf("%s: %v", m.Topic, err)
		}
		if v["unique_id"] == nil || v["state_topic"] == nil && v["command_topic"] == nil {
			t.Errorf("%s: no unique_id or topics: %s", m.Topic, m.Payload)
		}
	}
	// Retained: a late subscriber gets them.
	late := mqtttest.Subscribe(t, s.broker, "ha/#")
	if m, err := late.WaitFor(isConfig, 5*time.Second); err != nil || !m.Retained {
		t.Errorf("discovery config not retained: %v %v", m, err)
	}
	publishTo(t, s.broker, "ha/status", "online")
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		n := 0
		for _, m := range ha.All() {
			if isConfig(m) {
				n++
			}
		}
		if n >= 2*first {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	again := 0
	for _, m := range ha.All() {
		if isConfig(m) {
			again++
		}
	}
	if again < 2*first {
		t.Errorf("%d discovery configs after the birth message, want %d again", again-first, first)
	}

	isClass := func(m mqtttest.Message) bool { return m.Topic == "t/dev/cam/classification" }
	payloadIs := func(topic, want string) func(mqtttest.Message) bool {
		return func(m mqtttest.Message) bool { return m.Topic == topic && string(m.Payload) == want }
	}
	if _, err := sub.WaitFor(isClass, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// OFF: echoed, and classifications stop.
	publishTo(t, s.broker, "t/dev/cam/set", "OFF")
	if _, err := sub.WaitFor(payloadIs("t/dev/cam/enabled", "OFF"), 10*time.Second); err != nil {
		t.Fatalf("no OFF echo: %v; log:\n%s", err, r.log.String())
	}
	time.Sleep(500 * time.Millisecond)
	n := sub.Len()
	time.Sleep(1500 * time.Millisecond)
	for _, m := range sub.All()[n:] {
		if isClass(m) {
			t.Fatalf("classification after OFF: %s", m)
		}
	}
	// ON: classifications again.
	publishTo(t, s.broker, "t/dev/cam/set", "on")
	if _, err := sub.WaitFor(payloadIs("t/dev/cam/enabled", "ON"), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.WaitFor(isClass, 10*time.Second); err != nil {
		t.Fatalf("no classification after ON: %v", err)
	}
	// Another label set.
	publishTo(t, s.broker, "t/dev/cam/labels/set", "warm")
	if _, err := sub.WaitFor(payloadIs("t/dev/cam/labels", "warm"), 10*time.Second); err != nil {
		t.Fatalf("no labels echo: %v; log:\n%s", err, r.log.String())
	}
	m, err := sub.WaitFor(func(m mqtttest.Message) bool {
		return isClass(m) && decode(t, m).LabelSet == "warm"
	}, 10*time.Second)
	if err != nil {
		t.Fatalf("no classification with the new set: %v", err)
	}
	if c := decode(t, m); !inSet(c, []string{"red", "orange", "yellow"}) {
		t.Errorf("labels %+v not from the new set", c.Labels)
	}
	// A set that does not exist is refused; the camera keeps its set.
	publishTo(t, s.broker, "t/dev/cam/labels/set", "nosuch")
	time.Sleep(time.Second)
	if !strings.Contains(r.log.String(), "control message ignored") {
		t.Errorf("unknown label set not logged:\n%s", r.log.String())
	}

}
