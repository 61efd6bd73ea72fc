package publish

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/autoclipd/autoclipd/internal/mqtttest"
)

// received collects what a Handler gets.
type received struct {
	mu   sync.Mutex
	msgs []string // "topic payload"
}

func (r *received) handle(topic string, payload []byte) {
	r.mu.Lock()
	r.msgs = append(r.msgs, topic+" "+string(payload))
	r.mu.Unlock()
}

func (r *received) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

func (r *received) has(s string) bool {
	for _, m := range r.all() {
		if m == s {
			return true
		}
	}
	return false
}

// sender connects a plain Paho client to addr.
func sender(t *testing.T, addr string) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(fmt.Sprintf("sender-%d", time.Now().UnixNano())).
		SetAutoReconnect(true).SetMaxReconnectInterval(200 * time.Millisecond))
	if tok := c.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("sender: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c
}

// publishUntil publishes payload on topic until r has it.
func publishUntil(t *testing.T, c mqtt.Client, r *received, topic, payload string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !r.has(topic + " " + payload) {
		if time.Now().After(deadline) {
			t.Fatalf("handler never got %s %s; got %q", topic, payload, r.all())
		}
		c.Publish(topic, 1, false, payload).WaitTimeout(time.Second)
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSubscribeSurvivesBrokerRestart subscribes to a control topic: the
// handler gets the messages in order, and again after mosquitto restarts
// (the Publisher subscribes again on the new connection).
func TestSubscribeSurvivesBrokerRestart(t *testing.T) {
	t.Parallel()
	m := mqtttest.StartMosquitto(t)
	p := newPublisher(t, testOptions(m.URL(), "sub-1"))
	var r received
	if err := p.Subscribe(p.Topic("+", "set"), 1, r.handle); err != nil {
		t.Fatal(err)
	}
	waitConnected(t, p, wait)
	c := sender(t, m.Addr())
	topic := p.Topic("yard", "set")
	publishUntil(t, c, &r, topic, "first")
	for i := range 50 {
		if tok := c.Publish(topic, 1, false, fmt.Sprint(i)); !tok.WaitTimeout(wait) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	publishUntil(t, c, &r, topic, "49")
	next := 0
	for _, msg := range r.all() {
		if msg == fmt.Sprintf("%s %d", topic, next) {
			next++
		}
	}
	if next != 50 {
		t.Errorf("handler got 0..%d in order, want 0..49: %q", next-1, r.all())
	}

	m.Restart()
	deadline := time.Now().Add(wait)
	for p.Stats().Connects < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	waitConnected(t, p, wait)
	publishUntil(t, c, &r, p.Topic("gate", "set"), "after restart")
	if p.Stats().ReceivedDropped != 0 {
		t.Errorf("stats %+v", p.Stats())
	}
}

func TestSubscribeRejects(t *testing.T) {
	b := startEmbedded(t, "127.0.0.1:0")
	p := newPublisher(t, testOptions(b.URL(), "sub-2"))
	h := func(string, []byte) {}
	for _, tc := range []struct {
		name   string
		filter string
		qos    byte
		h      Handler
		want   string
	}{
		{"empty", "", 0, h, "subscribe: empty topic filter"},
		{"hash not last", "a/#/b", 0, h, `subscribe: topic filter "a/#/b": '#' must be the whole last level`},
		{"partial plus", "a/b+/c", 0, h, `topic filter "a/b+/c": '+' must be a whole level`},
		{"qos 3", "a/b", 3, h, "subscribe a/b: qos 3"},
		{"nil handler", "a/b", 0, nil, "subscribe a/b: nil handler"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Subscribe(tc.filter, tc.qos, tc.h)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	for _, ok := range []string{"#", "a/+/b", "+", "a/#", "homeassistant/status"} {
		if err := p.Subscribe(ok, 1, h); err != nil {
			t.Errorf("Subscribe(%q): %v", ok, err)
		}
	}
}

// FuzzValidateFilter: an accepted filter has '#' only as its whole last
// level and '+' only as whole levels, and every valid topic is a valid
// filter.
func FuzzValidateFilter(f *testing.F) {
	for _, s := range []string{"#", "a/+/b", "a/#", "a#", "a/#/b", "+a", "", "a/b", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateTopic(s) == nil && validateFilter(s) != nil {
			t.Fatalf("topic %q valid, filter not: %v", s, validateFilter(s))
		}
		if err := validateFilter(s); err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		levels := strings.Split(s, "/")
		for i, l := range levels {
			if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
				t.Fatalf("%q accepted with '#' in level %d", s, i)
			}
			if strings.Contains(l, "+") && l != "+" {
				t.Fatalf("%q accepted with '+' in level %d", s, i)
			}
		}
	})
}
