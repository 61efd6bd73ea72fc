package publish

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/autoclipd/autoclipd/internal/mqtttest"
)

// TestFleet runs 4 publishers with different devices on one mosquitto:
// each has its own topics (no collision), its own retained status, and
// closing two of them turns exactly those two offline.
func TestFleet(t *testing.T) {
	t.Parallel()
	m := mqtttest.StartMosquitto(t)
	all := mqtttest.Subscribe(t, m.Addr(), "test/autoclipd/#")
	const n = 4
	var pubs []*Publisher
	for i := range n {
		p := newPublisher(t, testOptions(m.URL(), fmt.Sprintf("fleet-%d", i)))
		pubs = append(pubs, p)
	}
	for i, p := range pubs {
		waitConnected(t, p, wait)
		dev := fmt.Sprintf("fleet-%d", i)
		for _, c := range []Class{ClassState, ClassEvent, ClassClassification} {
			topic, err := p.CameraTopic("yard", c.String())
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Publish(topic, []byte(dev), p.MsgFor(c)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, p := range pubs {
		waitDrained(t, p, wait)
	}

	// Every device's messages arrive on its own topics, with its payload.
	deadline := time.Now().Add(wait)
	for all.Len() < n*4 && time.Now().Before(deadline) { // status + 3 messages each
		time.Sleep(10 * time.Millisecond)
	}
	byTopic := map[string][]string{}
	for _, msg := range all.All() {
		byTopic[msg.Topic] = append(byTopic[msg.Topic], string(msg.Payload))
	}
	for i := range n {
		dev := fmt.Sprintf("fleet-%d", i)
		for _, kind := range []string{"state", "event", "classification"} {
			topic := "test/autoclipd/" + dev + "/yard/" + kind
			if got := byTopic[topic]; !slices.Equal(got, []string{dev}) {
				t.Errorf("%s: %q, want exactly [%s]", topic, got, dev)
			}
		}
	}
	if len(byTopic) != n*4 {
		t.Errorf("%d topics, want %d: %v", len(byTopic), n*4, byTopic)
	}

	statuses := func() map[string]string {
		t.Helper()
		sub := mqtttest.Subscribe(t, m.Addr(), "test/autoclipd/+/status")
		got := map[string]string{}
		for len(got) < n {
			msg, err := sub.Next(wait)
			if err != nil {
				t.Fatalf("retained statuses %v: %v", got, err)
			}
			if !msg.Retained {
				t.Errorf("status %v not retained", msg)
			}
			got[strings.Split(msg.Topic, "/")[2]] = string(msg.Payload)
		}
		sub.Close()
		return got
	}
	want := map[string]string{"fleet-0": "online", "fleet-1": "online", "fleet-2": "online", "fleet-3": "online"}
	if got := statuses(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	for _, i := range []int{1, 3} {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		if err := pubs[i].Close(ctx); err != nil {
			t.Errorf("close fleet-%d: %v", i, err)
		}
		cancel()
	}
	want["fleet-1"], want["fleet-3"] = "offline", "offline"
	if got := statuses(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after closing 1 and 3: statuses %v, want %v", got, want)
	}
}
