package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/autoclipd/autoclipd/internal/mqtttest"
)

const wait = 5 * time.Second

// wireLabel and wireWeights mirror the documented wire format, decoded
// strictly (unknown fields are errors) so that the test notices any change.
type wireClassification struct {
	Device   string      `json:"device"`
	Camera   string      `json:"camera"`
	Frame    uint64      `json:"frame"`
	Time     string      `json:"time"`
	LabelSet string      `json:"label_set"`
	Method   string      `json:"method"`
	Labels   []wireLabel `json:"labels"`
	Weights  *struct {
		EntropyBits float64 `json:"entropy_bits"`
		Count       int     `json:"count"`
		Top         []struct {
			Template string  `json:"template"`
			Weight   float64 `json:"weight"`
		} `json:"top"`
	} `json:"weights"`
}

type wireLabel struct {
	Label       string  `json:"label"`
	Score       float64 `json:"score"`
	Probability float64 `json:"probability"`
}

func decodeStrict(t *testing.T, payload []byte) wireClassification {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var w wireClassification
	if err := dec.Decode(&w); err != nil {
		t.Fatalf("decode %s: %v", payload, err)
	}
	if dec.More() {
		t.Fatalf("trailing data after the JSON object: %s", payload)
	}
	return w
}

// topKeys returns the keys of the top-level JSON object in order.
func topKeys(t *testing.T, payload []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(payload))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("payload does not start with an object: %s", payload)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("payload %s: %v", payload, err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatalf("payload %s: %v", payload, err)
		}
	}
	return keys
}

func sampleClassification() Classification {
	return Classification{
		Camera:   "demo",
		Frame:    17,
		Time:     time.Date(2026, 11, 29, 9, 30, 0, 123456789, time.FixedZone("CET", 3600)),
		LabelSet: "colours",
		Method:   "autoclip",
		Labels: []LabelScore{
			{Label: "green", Score: 0.21, Probability: 0.0001},
			{Label: "red", Score: 0.31, Probability: 0.93},
			{Label: "blue", Score: 0.28, Probability: 0.0699},
		},
		Weights: &Weights{
			EntropyBits: 1.7,
			Count:       4,
			Top: []TemplateWeight{
				{Template: "a photo of a {}.", Weight: 0.3},
				{Template: "a {} thing.", Weight: 0.45},
			},
		},
	}
}

func TestClassificationOverMQTT(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b testBroker) {
		p := newPublisher(t, testOptions(b.URL(), "edge-1"))
		waitConnected(t, p, wait)
		sub := mqtttest.Subscribe(t, b.Addr(), "test/autoclipd/edge-1/+/classification")

		m := sampleClassification()
		if err := p.PublishClassification(m); err != nil {
			t.Fatal(err)
		}
		m.Weights = nil
		m.Frame = 18
		if err := p.PublishClassification(m); err != nil {
			t.Fatal(err)
		}

		got, err := sub.Next(wait)
		if err != nil {
			t.Fatal(err)
		}
		if want := "test/autoclipd/edge-1/demo/classification"; got.Topic != want {
			t.Errorf("topic %q, want %q", got.Topic, want)
		}
		if got.Retained {
			t.Error("classification is retained")
		}
		wantKeys := "device camera frame time label_set method labels weights"
		if k := strings.Join(topKeys(t, got.Payload), " "); k != wantKeys {
			t.Errorf("keys %q, want %q", k, wantKeys)
		}
		w := decodeStrict(t, got.Payload)
		if w.Device != "edge-1" || w.Camera != "demo" || w.Frame != 17 || w.LabelSet != "colours" || w.Method != "autoclip" {
			t.Errorf("header fields %+v", w)
		}
		if want := "2026-11-29T08:30:00.123Z"; w.Time != want {
			t.Errorf("time %q, want %q", w.Time, want)
		}
		wantLabels := []wireLabel{{"red", 0.31, 0.93}, {"blue", 0.28, 0.0699}, {"green", 0.21, 0.0001}}
		if len(w.Labels) != len(wantLabels) {
			t.Fatalf("labels %+v, want %+v", w.Labels, wantLabels)
		}
		for i := range wantLabels {
			if w.Labels[i] != wantLabels[i] {
				t.Errorf("labels[%d] = %+v, want %+v", i, w.Labels[i], wantLabels[i])
			}
		}
		if w.Weights == nil || w.Weights.EntropyBits != 1.7 || w.Weights.Count != 4 || len(w.Weights.Top) != 2 ||
			w.Weights.Top[0].Template != "a {} thing." || w.Weights.Top[0].Weight != 0.45 ||
			w.Weights.Top[1].Template != "a photo of a {}." || w.Weights.Top[1].Weight != 0.3 {
			t.Errorf("weights %+v", w.Weights)
		}

		got, err = sub.Next(wait)
		if err != nil {
			t.Fatal(err)
		}
		if k := strings.Join(topKeys(t, got.Payload), " "); k != "device camera frame time label_set method labels" {
			t.Errorf("without weights: keys %q", k)
		}
		if w := decodeStrict(t, got.Payload); w.Frame != 18 || w.Weights != nil {
			t.Errorf("second message: %s", got.Payload)
		}
		if s := p.Stats(); s.Published != 2 || s.Dropped != 0 || s.Connects != 1 || !s.Connected {
			t.Errorf("stats %+v", s)
		}
	})
}

func TestStatusOnlineThenOfflineOnClose(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b testBroker) {
		p := newPublisher(t, testOptions(b.URL(), "edge-2"))
		waitConnected(t, p, wait)
		status := "test/autoclipd/edge-2/status"
		if p.StatusTopic() != status {
			t.Fatalf("StatusTopic %q, want %q", p.StatusTopic(), status)
		}

		isOnline := func(m mqtttest.Message) bool { return string(m.Payload) == StatusOnline }
		early := mqtttest.Subscribe(t, b.Addr(), status)
		if _, err := early.WaitFor(isOnline, wait); err != nil {
			t.Fatal(err)
		}
		late := mqtttest.Subscribe(t, b.Addr(), status) // after "online" reached the broker
		m, err := late.Next(wait)
		if err != nil {
			t.Fatal(err)
		}
		if !isOnline(m) || !m.Retained {
			t.Errorf("late subscriber got %v, want it retained", m)
		}

		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := p.Close(ctx); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if p.Connected() || p.Stats().Connected {
			t.Error("connected after Close")
		}
		if _, err := late.WaitFor(func(m mqtttest.Message) bool { return string(m.Payload) == StatusOffline }, wait); err != nil {
			t.Fatalf("live subscriber: %v", err)
		}
		after := mqtttest.Subscribe(t, b.Addr(), status)
		m, err = after.Next(wait)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Payload) != StatusOffline || !m.Retained {
			t.Errorf("after Close a late subscriber got %v, want retained %q", m, StatusOffline)
		}
		if err := p.Publish(p.Topic("x"), []byte("late"), Msg{QoS: 1, Class: ClassEvent}); !errors.Is(err, ErrClosed) {
			t.Errorf("Publish after Close: %v, want ErrClosed", err)
		}
	})
}

// TestLastWill cuts the TCP connection under the publisher (no DISCONNECT):
// the broker publishes "offline", the publisher reconnects and says
// "online" again; when the network stays down the will stays retained.
func TestLastWill(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b testBroker) {
		proxy := mqtttest.NewProxy(t, b.Addr())
		p := newPublisher(t, testOptions(proxy.URL(), "edge-3"))
		waitConnected(t, p, wait)
		sub := mqtttest.Subscribe(t, b.Addr(), "test/autoclipd/edge-3/status")
		isPayload := func(s string) func(mqtttest.Message) bool {
			return func(m mqtttest.Message) bool { return string(m.Payload) == s }
		}
		if _, err := sub.WaitFor(isPayload(StatusOnline), wait); err != nil {
			t.Fatal(err)
		}

		if n := proxy.Cut(); n != 1 {
			t.Fatalf("proxy cut %d connections, want 1", n)
		}
		if _, err := sub.WaitFor(isPayload(StatusOffline), wait); err != nil {
			t.Fatalf("last will after the cut: %v", err)
		}
		if _, err := sub.WaitFor(isPayload(StatusOnline), wait); err != nil {
			t.Fatalf("online after reconnecting: %v", err)
		}
		waitConnected(t, p, wait)
		if s := p.Stats(); s.Connects != 2 {
			t.Errorf("stats %+v, want 2 connects", s)
		}

		proxy.Close() // the network stays down
		if _, err := sub.WaitFor(isPayload(StatusOffline), wait); err != nil {
			t.Fatalf("last will after the proxy closed: %v", err)
		}
		late := mqtttest.Subscribe(t, b.Addr(), "test/autoclipd/edge-3/status")
		if m, err := late.Next(wait); err != nil || string(m.Payload) != StatusOffline || !m.Retained {
			t.Errorf("late subscriber: %v %v, want retained %q", m, err, StatusOffline)
		}
		// QoS 0 while down is queued.
		deadline := time.Now().Add(wait)
		for p.Connected() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if err := p.PublishClassification(sampleClassification()); err != nil {
			t.Errorf("QoS 0 while down: %v, want it queued", err)
		}
		if s := p.Stats(); s.Dropped != 0 || s.Connected || s.QueueDepth != 1 {
			t.Errorf("stats %+v, want 1 queued, none dropped, not connected", s)
		}

		// Close flushes until its context ends, then gives up: the broker
		// has the last will.
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Errorf("Close while disconnected: %v", err)
		}
		if d := time.Since(start); d > 300*time.Millisecond+time.Second {
			t.Errorf("Close while disconnected took %s, past its context", d)
		}
	})
}

// TestBrokerDownAtStart starts the publisher first: New returns at once,
// messages published before the first connection are queued (QoS 0 and 1),
// the publisher connects when the broker appears, says "online" first and
// delivers them in order.
func TestBrokerDownAtStart(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b testBroker) {
		b.Stop()
		o := testOptions(b.URL(), "edge-4")
		o.QoS = 1
		start := time.Now()
		p := newPublisher(t, o)
		if d := time.Since(start); d > time.Second {
			t.Errorf("New with the broker down took %s", d)
		}
		if p.Connected() {
			t.Fatal("connected with the broker down")
		}
		for _, qos := range []byte{0, 1} {
			if err := p.Publish(p.Topic("early"), []byte(fmt.Sprint(qos)), Msg{QoS: qos, Retained: true, Class: ClassState}); err != nil {
				t.Fatalf("QoS %d before the first connection: %v, want it queued", qos, err)
			}
		}
		time.Sleep(300 * time.Millisecond) // a few failed attempts
		if s := p.Stats(); s.QueueDepth != 2 || s.Connects != 0 {
			t.Fatalf("stats %+v, want 2 queued", s)
		}

		b.Start()
		waitConnected(t, p, wait)
		waitDrained(t, p, wait)
		// Retained: the last one is there for a late subscriber.
		late := mqtttest.Subscribe(t, b.Addr(), "test/autoclipd/edge-4/early")
		if m, err := late.Next(wait); err != nil || string(m.Payload) != "1" || !m.Retained {
			t.Fatalf("early message: %v %v, want the QoS 1 one retained", m, err)
		}
		sub := mqtttest.Subscribe(t, b.Addr(), "test/autoclipd/edge-4/#")
		if _, err := sub.WaitFor(func(m mqtttest.Message) bool {
			return m.Topic == "test/autoclipd/edge-4/status" && string(m.Payload) == StatusOnline
		}, wait); err != nil {
			t.Fatal(err)
		}

		c := sampleClassification()
		if err := p.PublishClassification(c); err != nil {
			t.Fatal(err)
		}
		m, err := sub.WaitFor(func(m mqtttest.Message) bool { return strings.HasSuffix(m.Topic, "/classification") }, wait)
		if err != nil {
			t.Fatal(err)
		}
		if w := decodeStrict(t, m.Payload); w.Frame != c.Frame || w.Device != "edge-4" || m.QoS != 1 {
			t.Errorf("classification %v (qos %d)", m, m.QoS)
		}
		waitDrained(t, p, wait)
		if s := p.Stats(); s.Connects != 1 || s.Dropped != 0 || s.Published != 3 || s.Sent != 3 || s.QueueDepth != 0 {
			t.Errorf("stats %+v", s)
		}
	})
}

// TestCloseUnconfirmed closes with a context that is already done: Close
// reports it, and the broker still ends with "offline" (the status or the
// last will).
func TestCloseUnconfirmed(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b testBroker) {
		p := newPublisher(t, testOptions(b.URL(), "edge-5"))
		waitConnected(t, p, wait)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := p.Close(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Close: %v, want nil or context.Canceled", err)
		}
		sub := mqtttest.Subscribe(t, b.Addr(), "test/autoclipd/edge-5/status")
		if _, err := sub.WaitFor(func(m mqtttest.Message) bool { return string(m.Payload) == StatusOffline }, wait); err != nil {
			t.Fatal(err)
		}
		late := mqtttest.Subscribe(t, b.Addr(), "test/autoclipd/edge-5/status")
		if m, err := late.Next(wait); err != nil || string(m.Payload) != StatusOffline || !m.Retained {
			t.Errorf("late subscriber: %v %v, want retained %q", m, err, StatusOffline)
		}
	})
}

func TestPublishRejects(t *testing.T) {
	b := startEmbedded(t, "127.0.0.1:0")
	p := newPublisher(t, testOptions(b.URL(), "edge-6"))
	waitConnected(t, p, wait)
	for _, tc := range []struct {
		name string
		err  func() error
		want string
	}{
		{"wildcard topic", func() error { return p.Publish("a/+/b", nil, Msg{}) }, `publish: topic "a/+/b": level 2`},
		{"empty level", func() error { return p.Publish("a//b", nil, Msg{}) }, `topic "a//b": level 2 is empty`},
		{"sys topic", func() error { return p.Publish("$SYS/x", nil, Msg{}) }, `starts with '$'`},
		{"qos 3", func() error { return p.Publish("a/b", nil, Msg{QoS: 3}) }, "publish a/b: qos 3: must be 0, 1 or 2"},
		{"unknown class", func() error { return p.Publish("a/b", nil, Msg{Class: 9}) }, "publish a/b: class(9): unknown message class"},
		{"bad camera topic", func() error { _, err := p.CameraTopic("a+b", "event"); return err }, `camera "a+b": "a+b": wildcard '+' at byte 1`},
		{"camera with slash", func() error {
			c := sampleClassification()
			c.Camera = "front/door"
			return p.PublishClassification(c)
		}, `classification frame 17: camera: "front/door": '/' at byte 5`},
		{"other device", func() error {
			c := sampleClassification()
			c.Device = "edge-7"
			return p.PublishClassification(c)
		}, `device "edge-7": this publisher is device "edge-6"`},
		{"NaN score", func() error {
			c := sampleClassification()
			c.Labels[1].Score = nan()
			return p.PublishClassification(c)
		}, `labels[1] "red": score NaN`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is more than one line: %q", err)
			}
		})
	}
	if s := p.Stats(); s.Published != 0 {
		t.Errorf("rejected messages counted as published: %+v", s)
	}
	if got := p.Topic("demo", "state"); got != "test/autoclipd/edge-6/demo/state" {
		t.Errorf("Topic = %q", got)
	}
}

// silentBroker accepts TCP connections and never answers CONNECT, like a
// black-holed broker: a connection attempt lasts ConnectTimeout.
func silentBroker(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return "tcp://" + l.Addr().String()
}

func TestNewWaitsForFirstAttempt(t *testing.T) {
	url := silentBroker(t)
	for _, tc := range []struct {
		name     string
		ctx      func() (context.Context, context.CancelFunc)
		wantErr  error
		min, max time.Duration
	}{
		{"cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled, 0, 200 * time.Millisecond},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}, context.DeadlineExceeded, 90 * time.Millisecond, 500 * time.Millisecond},
		{"attempt times out", func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, nil, 300 * time.Millisecond, 2500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			o := testOptions(url, "edge-8")
			o.ConnectTimeout = 300 * time.Millisecond
			start := time.Now()
			p, err := New(ctx, o, testLogger(t))
			elapsed := time.Since(start)
			if elapsed < tc.min || elapsed > tc.max {
				t.Errorf("New took %s, want %s to %s", elapsed, tc.min, tc.max)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || p != nil {
					t.Fatalf("New: %v, %v; want %v", p, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(context.Background())
			if p.Connected() {
				t.Error("connected to a broker that never answers")
			}
		})
	}
}

func TestPasswordNotLogged(t *testing.T) {
	b := startEmbedded(t, "127.0.0.1:0")
	log, buf := testLoggerBuf(t)
	o := testOptions(b.URL(), "edge-9")
	o.Username, o.Password = "user", "s3cret-pa55"
	p, err := New(context.Background(), o, log)
	if err != nil {
		t.Fatal(err)
	}
	waitConnected(t, p, wait)
	deadline := time.Now().Add(wait)
	for !strings.Contains(buf.String(), "mqtt connected") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "mqtt connected") || !strings.Contains(out, "password=(set)") {
		t.Errorf("log lacks the connection lines:\n%s", out)
	}
	if strings.Contains(out, "s3cret-pa55") {
		t.Errorf("password in the log:\n%s", out)
	}
}

// BenchmarkPublishClassification publishes to the embedded broker with
// QoS 0 (the default for classifications) and QoS 1; each op is one
// Publish call, which does not wait for the broker.
func BenchmarkPublishClassification(b *testing.B) {
	for _, qos := range []byte{0, 1} {
		b.Run(fmt.Sprintf("qos=%d", qos), func(b *testing.B) {
			br, err := StartBroker("127.0.0.1:0", nil)
			if err != nil {
				b.Fatal(err)
			}
			defer br.Close()
			o := testOptions(br.URL(), "bench")
			o.QoS = qos
			p, err := New(context.Background(), o, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close(context.Background())
			for !p.Connected() || p.Stats().Connects == 0 {
				time.Sleep(time.Millisecond)
			}
			m := sampleClassification()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				m.Frame++
				if err := p.PublishClassification(m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestQueuedDuringOutage publishes QoS 1 messages while the network to the
// broker is down: they arrive after the reconnection, all of them, in
// order (a QoS 1 duplicate would be allowed), with those in flight when
// the network went down; a QoS 0 one is queued as well, and new messages
// published while the backlog goes out stay behind it.
func TestQueuedDuringOutage(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b testBroker) {
		proxy := mqtttest.NewProxy(t, b.Addr())
		p := newPublisher(t, testOptions(proxy.URL(), "edge-10"))
		waitConnected(t, p, wait)
		sub := mqtttest.Subscribe(t, b.Addr(), "test/autoclipd/edge-10/seq")
		topic := p.Topic("seq")
		const before, during, after = 5, 50, 5
		seq := 0
		send := func(n int) {
			for range n {
				if err := p.Publish(topic, []byte(fmt.Sprint(seq)), Msg{QoS: 1, Class: ClassEvent}); err != nil {
					t.Fatalf("publish %d: %v", seq, err)
				}
				seq++
			}
		}
		send(before)
		proxy.Down()
		deadline := time.Now().Add(wait)
		for p.Connected() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if p.Connected() {
			t.Fatal("still connected with the network down")
		}
		send(during / 2)
		if err := p.Publish(topic, []byte(fmt.Sprint(seq)), Msg{QoS: 0, Class: ClassClassification}); err != nil {
			t.Errorf("QoS 0 during the outage: %v", err)
		}
		seq++
		send(during / 2)
		time.Sleep(300 * time.Millisecond) // some reconnection attempts fail
		proxy.Up()
		waitConnected(t, p, wait)
		send(after) // behind the backlog, not before it

		next := 0
		receive := func() {
			t.Helper()
			for next < seq {
				m, err := sub.Next(wait)
				if err != nil {
					t.Fatalf("after %d of %d: %v", next, seq, err)
				}
				var got int
				if _, err := fmt.Sscan(string(m.Payload), &got); err != nil {
					t.Fatalf("payload %q", m.Payload)
				}
				switch {
				case got == next:
					next++
				case got < next: // duplicate from a QoS 1 retry
				default:
					t.Fatalf("got %d, want %d: gap or reordering", got, next)
				}
			}
		}
		receive()
		waitDrained(t, p, wait)
		if s := p.Stats(); s.Connects != 2 || s.Reconnects != 1 || s.Published != uint64(seq) || s.Dropped != 0 || s.Sent < uint64(seq) {
			t.Errorf("stats %+v", s)
		}
	})
}

// BenchmarkSendQoS1 measures the sender: b.N events of 200 bytes are
// queued at once and the op ends when the broker has acknowledged them
// all (ns/op is the time per message through the queue), with one and 16
// messages in flight, on loopback and through a proxy adding 1 ms each
// way.
func BenchmarkSendQoS1(b *testing.B) {
	for _, inflight := range []int{1, 16} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) { benchmarkSend(b, inflight) })
	}
}

func benchmarkSend(b *testing.B, inflight int) {
	for _, bc := range []struct {
		name string
		url  func(b *testing.B) string
	}{
		{"mosquitto", func(b *testing.B) string { return mqtttest.StartMosquitto(b).URL() }},
		{"mosquitto-rtt-2ms", func(b *testing.B) string {
			proxy := mqtttest.NewProxy(b, mqtttest.StartMosquitto(b).Addr())
			proxy.SetDelay(time.Millisecond)
			return proxy.URL()
		}},
		{"embedded", func(b *testing.B) string {
			br, err := StartBroker("127.0.0.1:0", nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { br.Close() })
			return br.URL()
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			o := testOptions(bc.url(b), "bench-send")
			o.Inflight = inflight
			p, err := New(context.Background(), o, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close(context.Background())
			payload := bytes.Repeat([]byte("x"), 200)
			topic := p.Topic("yard", "event")
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := p.Publish(topic, payload, p.MsgFor(ClassEvent)); err != nil {
					b.Fatal(err)
				}
			}
			for p.Stats().QueueDepth > 0 {
				time.Sleep(time.Millisecond)
			}
		})
	}
}
