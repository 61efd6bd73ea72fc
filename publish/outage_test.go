package publish

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/autoclipd/autoclipd/internal/mqtttest"
)

// recorder is an Observer that counts what it is told.
type recorder struct {
	mu         sync.Mutex
	states     []bool
	reconnects int
	published  map[string]int
	dropped    map[string]int
}

func newRecorder() *recorder {
	return &recorder{published: map[string]int{}, dropped: map[string]int{}}
}

func (r *recorder) SetMQTTConnected(c bool) {
	r.mu.Lock()
	r.states = append(r.states, c)
	r.mu.Unlock()
}
func (r *recorder) MQTTReconnect()         { r.mu.Lock(); r.reconnects++; r.mu.Unlock() }
func (r *recorder) MQTTPublished(c string) { r.mu.Lock(); r.published[c]++; r.mu.Unlock() }
func (r *recorder) MQTTDropped(c string)   { r.mu.Lock(); r.dropped[c]++; r.mu.Unlock() }

// outage is how long the outage tests keep the broker down (the issue's
// daemon-level test uses 30 s).
const outage = 10 * time.Second

// ticker publishes an event {"seq":N} on topic every 100 ms, and a
// classification after each, continuing its seq across publishers.
type ticker struct {
	t   *testing.T
	seq int
}

// run publishes for d on p.
func (tk *ticker) run(p *Publisher, d time.Duration) {
	tk.t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	end := time.After(d)
	for {
		select {
		case <-end:
			return
		case <-tick.C:
		}
		if err := p.Publish(p.Topic("yard", "event"), fmt.Appendf(nil, `{"seq":%d}`, tk.seq), p.MsgFor(ClassEvent)); err != nil {
			tk.t.Fatalf("event %d: %v", tk.seq, err)
		}
		if err := p.Publish(p.Topic("yard", "classification"), fmt.Appendf(nil, `{"frame":%d}`, tk.seq), p.MsgFor(ClassClassification)); err != nil {
			tk.t.Fatalf("classification %d: %v", tk.seq, err)
		}
		tk.seq++
	}
}

// waitSubscribed publishes probes on <prefix>/<dev>/probe at addr until
// sub (subscribed to <prefix>/<dev>/#) receives one: it is back after a
// broker restart.
func waitSubscribed(t *testing.T, addr string, sub *mqtttest.Sub, dev string) {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("probe-" + dev))
	if tok := c.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("probe client: %v", tok.Error())
	}
	defer c.Disconnect(50)
	topic := "test/autoclipd/" + dev + "/probe"
	deadline := time.Now().Add(15 * time.Second)
	for {
		c.Publish(topic, 1, false, "probe").WaitTimeout(time.Second)
		if _, err := sub.WaitFor(func(m mqtttest.Message) bool { return m.Topic == topic }, 300*time.Millisecond); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("subscriber not back after the broker restart")
		}
	}
}

// checkEvents checks that the events received on topic are seq 0..n-1 in
// order, duplicates (QoS 1 retries) allowed; it returns the number of
// duplicates.
func checkEvents(t *testing.T, msgs []mqtttest.Message, topic string, n int) int {
	t.Helper()
	next, dups := 0, 0
	for _, m := range msgs {
		if m.Topic != topic {
			continue
		}
		var e struct{ Seq int }
		if err := json.Unmarshal(m.Payload, &e); err != nil {
			t.Fatalf("event payload %q: %v", m.Payload, err)
		}
		switch {
		case e.Seq == next:
			next++
		case e.Seq < next:
			dups++
		default:
			t.Fatalf("event %d after %d: gap or reordering", e.Seq, next-1)
		}
	}
	if next != n {
		t.Fatalf("received events 0..%d, published 0..%d", next-1, n-1)
	}
	return dups
}

// waitEvent waits until sub has received event seq on topic.
func waitEvent(t *testing.T, sub *mqtttest.Sub, topic string, seq int) {
	t.Helper()
	want := fmt.Sprintf(`{"seq":%d}`, seq)
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, m := range sub.All() {
			if m.Topic == topic && string(m.Payload) == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("event %d never arrived (%d messages received)", seq, sub.Len())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOutageNothingLost kills mosquitto for 10 s while events and
// classifications are published every 100 ms with a queue bound of 150:
// every event arrives, in order, no gaps; the queue never holds more than
// its bound; the classifications that did not fit were dropped, oldest
// first, and counted, no event was.
func TestOutageNothingLost(t *testing.T) {
	t.Parallel()
	m := mqtttest.StartMosquitto(t)
	// The publisher reaches the broker through a proxy that stays down
	// until the test subscriber is back after the restart (mosquitto
	// keeps no session across a restart).
	proxy := mqtttest.NewProxy(t, m.Addr())
	o := testOptions(proxy.URL(), "outage-1")
	o.Queue = 150
	rec := newRecorder()
	o.Observer = rec
	p := newPublisher(t, o)
	waitConnected(t, p, wait)
	sub := mqtttest.Subscribe(t, m.Addr(), "test/autoclipd/outage-1/#")
	tk := &ticker{t: t}

	tk.run(p, time.Second)
	proxy.Down()
	m.Kill()
	tk.run(p, outage)
	if s := p.Stats(); s.Connected || s.QueueDepth < 140 {
		t.Fatalf("after the outage: %+v, want about 150 queued", s)
	}
	m.Start()
	waitSubscribed(t, m.Addr(), sub, "outage-1")
	proxy.Up()
	tk.run(p, 1500*time.Millisecond)
	waitDrained(t, p, 30*time.Second)
	evTopic := p.Topic("yard", "event")
	waitEvent(t, sub, evTopic, tk.seq-1)

	dups := checkEvents(t, sub.All(), evTopic, tk.seq)
	s := p.Stats()
	t.Logf("%d events, %d duplicates, stats %+v", tk.seq, dups, s)
	if s.QueueMax > o.Queue {
		t.Errorf("queue held %d messages, bound %d", s.QueueMax, o.Queue)
	}
	if s.DroppedByClass[ClassEvent] != 0 || s.DroppedByClass[ClassClassification] < 30 || s.Dropped != s.DroppedByClass[ClassClassification] {
		t.Errorf("dropped %v: want classifications only", s.DroppedByClass)
	}
	if s.Reconnects < 1 {
		t.Errorf("reconnects %d", s.Reconnects)
	}
	rec.mu.Lock()
	if rec.reconnects != int(s.Reconnects) || rec.dropped["classification"] != int(s.Dropped) || len(rec.dropped) != 1 ||
		rec.published["event"]+rec.published["classification"] != int(s.Sent) || rec.published["event"] < tk.seq {
		t.Errorf("observer: reconnects %d, dropped %v, published %v; stats %+v", rec.reconnects, rec.dropped, rec.published, s)
	}
	if want := []bool{true, false, true}; len(rec.states) < 3 || !slices.Equal(rec.states[:3], want) || !rec.states[len(rec.states)-1] {
		t.Errorf("observer connection states %v", rec.states)
	}
	rec.mu.Unlock()
	// The classifications that arrived: the oldest of the outage were
	// dropped, so frames are increasing and the latest are all there.
	var frames []int
	for _, msg := range sub.All() {
		if strings.HasSuffix(msg.Topic, "/classification") {
			var c struct{ Frame int }
			if err := json.Unmarshal(msg.Payload, &c); err != nil {
				t.Fatal(err)
			}
			frames = append(frames, c.Frame)
		}
	}
	for i := 1; i < len(frames); i++ {
		if frames[i] < frames[i-1] {
			t.Fatalf("classification %d after %d", frames[i], frames[i-1])
		}
	}
	if len(frames) > 0 && frames[len(frames)-1] != tk.seq-1 {
		t.Errorf("last classification %d, want %d", frames[len(frames)-1], tk.seq-1)
	}
}

// TestOutageRestartWithQueueDir restarts the publisher (a daemon restart)
// during the outage with a queue on disk: the events of both runs arrive,
// in order, no gaps.
func TestOutageRestartWithQueueDir(t *testing.T) {
	t.Parallel()
	m := mqtttest.StartMosquitto(t)
	proxy := mqtttest.NewProxy(t, m.Addr())
	o := testOptions(proxy.URL(), "outage-2")
	o.QueueDir = t.TempDir()
	p1 := newPublisher(t, o)
	waitConnected(t, p1, wait)
	sub := mqtttest.Subscribe(t, m.Addr(), "test/autoclipd/outage-2/#")
	tk := &ticker{t: t}

	tk.run(p1, time.Second)
	proxy.Down()
	m.Kill()
	tk.run(p1, outage/3)
	left := p1.Stats().QueueDepth
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := p1.Close(ctx); err != nil {
		t.Fatalf("Close during the outage: %v", err)
	}

	p2 := newPublisher(t, o)
	if s := p2.Stats(); s.QueueDepth != left || s.Connected {
		t.Fatalf("restarted publisher: %+v, want the %d messages left queued", s, left)
	}
	tk.run(p2, outage/3)
	m.Start()
	waitSubscribed(t, m.Addr(), sub, "outage-2")
	proxy.Up()
	tk.run(p2, time.Second)
	waitDrained(t, p2, 30*time.Second)
	evTopic := p2.Topic("yard", "event")
	waitEvent(t, sub, evTopic, tk.seq-1)
	dups := checkEvents(t, sub.All(), evTopic, tk.seq)
	t.Logf("%d events, %d left on disk by the first run, %d duplicates", tk.seq, left, dups)
	if s := p2.Stats(); s.Dropped != 0 {
		t.Errorf("dropped %v", s.DroppedByClass)
	}
}

// TestCloseFlushesThenOffline queues events while the network is down,
// brings it back and closes at once: Close sends the whole queue, then
// "offline" after the last event.
func TestCloseFlushesThenOffline(t *testing.T) {
	t.Parallel()
	m := mqtttest.StartMosquitto(t)
	proxy := mqtttest.NewProxy(t, m.Addr())
	p := newPublisher(t, testOptions(proxy.URL(), "close-1"))
	waitConnected(t, p, wait)
	sub := mqtttest.Subscribe(t, m.Addr(), "test/autoclipd/close-1/#")
	if _, err := sub.WaitFor(func(m mqtttest.Message) bool { return string(m.Payload) == StatusOnline }, wait); err != nil {
		t.Fatal(err)
	}
	proxy.Down()
	deadline := time.Now().Add(wait)
	for p.Connected() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	topic := p.Topic("yard", "event")
	const n = 300
	for i := range n {
		if err := p.Publish(topic, fmt.Appendf(nil, `{"seq":%d}`, i), p.MsgFor(ClassEvent)); err != nil {
			t.Fatal(err)
		}
	}
	proxy.Up()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// The cut made the broker publish the last will "offline" before the
	// events: the offline that counts is the one Close publishes, after
	// the last event.
	status := p.StatusTopic()
	waitEvent(t, sub, topic, n-1)
	var all []mqtttest.Message
	lastEvent, offline := -1, -1
	deadline = time.Now().Add(wait)
	for time.Now().Before(deadline) {
		all = sub.All()
		lastEvent, offline = -1, -1
		for i, msg := range all {
			switch {
			case msg.Topic == topic:
				lastEvent = i
			case msg.Topic == status && string(msg.Payload) == StatusOffline:
				offline = i
			}
		}
		if offline > lastEvent {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	checkEvents(t, all, topic, n)
	if offline < lastEvent {
		t.Errorf("no offline after the last event (message %d; last offline at %d)", lastEvent, offline)
	}
	if s := p.Stats(); s.QueueDepth != 0 || s.Sent < n {
		t.Errorf("stats after Close %+v", s)
	}
}

// TestPoisonMessageDropped: a message the broker answers by closing the
// connection (past mosquitto's max_packet_size) is dropped after 10
// tries, logged and counted, and the queue goes on.
func TestPoisonMessageDropped(t *testing.T) {
	t.Parallel()
	m := mqtttest.StartMosquittoWith(t, mqtttest.MosquittoConfig{Extra: "max_packet_size 2000\n"})
	log, buf := testLoggerBuf(t)
	p, err := New(context.Background(), testOptions(m.URL(), "poison"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	waitConnected(t, p, wait)
	sub := mqtttest.Subscribe(t, m.Addr(), "test/autoclipd/poison/yard/event")
	topic := p.Topic("yard", "event")
	for _, payload := range [][]byte{[]byte(`{"seq":0}`), []byte(`{"seq":"` + strings.Repeat("x", 5000) + `"}`), []byte(`{"seq":1}`)} {
		if err := p.Publish(topic, payload, p.MsgFor(ClassEvent)); err != nil {
			t.Fatal(err)
		}
	}
	waitEvent(t, sub, topic, 1)
	var got []string
	for _, msg := range sub.All() {
		got = append(got, string(msg.Payload))
	}
	if got = slices.Compact(got); !slices.Equal(got, []string{`{"seq":0}`, `{"seq":1}`}) { // QoS 1 duplicates allowed
		t.Errorf("received %q", got)
	}
	s := p.Stats()
	if s.DroppedByClass[ClassEvent] != 1 || s.Connects < poisonStrikes+1 {
		t.Errorf("stats %+v", s)
	}
	if !strings.Contains(buf.String(), `msg="mqtt message dropped: the connection died each time it was sent" topic=test/autoclipd/poison/yard/event bytes=5010 class=event attempts=10`) {
		t.Errorf("no error line for the dropped message:\n%s", buf)
	}
}

// TestOrderUnderRepeatedCuts cuts the connection ten times while events
// are published as fast as they come, with one message in flight and with
// a window of 16: every event arrives, in order, no gaps.
func TestOrderUnderRepeatedCuts(t *testing.T) {
	t.Parallel()
	for _, inflight := range []int{1, 16} {
		t.Run(fmt.Sprintf("inflight=%d", inflight), func(t *testing.T) {
			m := mqtttest.StartMosquitto(t)
			proxy := mqtttest.NewProxy(t, m.Addr())
			o := testOptions(proxy.URL(), "cuts")
			o.WriteTimeout = 500 * time.Millisecond
			o.Inflight = inflight
			p := newPublisher(t, o)
			waitConnected(t, p, wait)
			sub := mqtttest.Subscribe(t, m.Addr(), "test/autoclipd/cuts/#")
			topic := p.Topic("yard", "event")
			stop := make(chan struct{})
			count := make(chan int)
			go func() {
				i := 0
				defer func() { count <- i }()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if err := p.Publish(topic, fmt.Appendf(nil, `{"seq":%d}`, i), p.MsgFor(ClassEvent)); err != nil {
						t.Errorf("event %d: %v", i, err)
						return
					}
					i++
					if i%5 == 0 { // a few thousand a second: less than the queue bound per stall
						time.Sleep(time.Millisecond)
					}
				}
			}()
			cuts := 0
			for range 10 {
				// Cut each connection 30 ms after it came up.
				before := p.Stats().Connects
				time.Sleep(30 * time.Millisecond)
				if n := proxy.Cut(); n != 1 {
					t.Fatalf("cut %d connections", n)
				}
				cuts++
				deadline := time.Now().Add(wait)
				for p.Stats().Connects == before || !p.Connected() {
					if time.Now().After(deadline) {
						t.Fatal("not reconnected")
					}
					time.Sleep(time.Millisecond)
				}
			}
			time.Sleep(30 * time.Millisecond)
			close(stop)
			n := <-count
			waitDrained(t, p, 30*time.Second)
			deadline := time.Now().Add(wait)
			for !p.Connected() && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			s := p.Stats()
			if s.Dropped != 0 {
				t.Fatalf("the queue overflowed (published too fast for the test): stats %+v", s)
			}
			waitEvent(t, sub, topic, n-1)
			dups := checkEvents(t, sub.All(), topic, n)
			t.Logf("%d events, %d cuts, %d duplicates, stats %+v", n, cuts, dups, s)
			if cuts != 10 || s.Reconnects != 10 {
				t.Errorf("%d cuts, stats %+v", cuts, s)
			}
		})
	}
}

// TestReliableQoS2 sends events with mqtt.reliable_qos 2 through a cut:
// all arrive, in order.
func TestReliableQoS2(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b testBroker) {
		proxy := mqtttest.NewProxy(t, b.Addr())
		o := testOptions(proxy.URL(), "qos2")
		o.ReliableQoS = 2
		p := newPublisher(t, o)
		waitConnected(t, p, wait)
		if m := p.MsgFor(ClassEvent); m.QoS != 2 || m.Retained {
			t.Fatalf("MsgFor(event) = %+v", m)
		}
		sub := mqtttest.Subscribe(t, b.Addr(), "test/autoclipd/qos2/#")
		topic := p.Topic("yard", "event")
		const n = 200
		for i := range n {
			if err := p.Publish(topic, fmt.Appendf(nil, `{"seq":%d}`, i), p.MsgFor(ClassEvent)); err != nil {
				t.Fatal(err)
			}
			if i == n/2 {
				proxy.Cut()
			}
		}
		waitDrained(t, p, wait)
		waitEvent(t, sub, topic, n-1)
		checkEvents(t, sub.All(), topic, n)
	})
}
