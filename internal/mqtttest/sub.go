package mqtttest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Message is one message received by a Sub.
type Message struct {
	Topic    string
	Payload  []byte
	Retained bool
	QoS      byte
}

// String is "topic payload (retained)", for test failure messages.
func (m Message) String() string {
	s := m.Topic + " " + string(m.Payload)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if m.Retained {
		s += " (retained)"
	}
	return s
}

// Sub is a subscriber (Paho client) that collects the messages on one
// topic filter. Its methods are safe for concurrent use; Next and WaitFor
// consume messages in arrival order.
type Sub struct {
	topic  string
	client mqtt.Client

	mu     sync.Mutex
	msgs   []Message
	next   int           // index of the next message Next or WaitFor returns
	notify chan struct{} // signalled (capacity 1) when a message arrives
}

// Subscribe connects a new client to the broker at addr (host:port or
// tcp://host:port), subscribes to topic (a filter: wildcards allowed) with
// QoS 1 and waits for the subscription to be acknowledged, failing the test
// if that takes more than 10 s. The client reconnects and subscribes again
// if the broker restarts. It is closed by t.Cleanup.
func Subscribe(t testing.TB, addr, topic string) *Sub {
	t.Helper()
	if !strings.Contains(addr, "://") {
		addr = "tcp://" + addr
	}
	s := &Sub{topic: topic, notify: make(chan struct{}, 1)}
	subscribed := make(chan error, 1)
	var once sync.Once
	opts := mqtt.NewClientOptions().
		AddBroker(addr).
		SetClientID("mqtttest-sub-" + randomID()).
		SetProtocolVersion(4).
		SetCleanSession(true).
		SetConnectTimeout(5 * time.Second).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(time.Second).
		SetOnConnectHandler(func(c mqtt.Client) {
			tok := c.Subscribe(topic, 1, s.handle)
			ok := tok.WaitTimeout(10 * time.Second)
			err := tok.Error()
			if err == nil && !ok {
				err = fmt.Errorf("no SUBACK within 10s")
			}
			once.Do(func() { subscribed <- err })
		})
	s.client = mqtt.NewClient(opts)
	tok := s.client.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatalf("mqtttest: subscriber for %q: connect to %s: no CONNACK within 10s", topic, addr)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("mqtttest: subscriber for %q: connect to %s: %v", topic, addr, err)
	}
	t.Cleanup(s.Close)
	select {
	case err := <-subscribed:
		if err != nil {
			t.Fatalf("mqtttest: subscribe %q on %s: %v", topic, addr, err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("mqtttest: subscribe %q on %s: not done within 15s", topic, addr)
	}
	return s
}

func (s *Sub) handle(_ mqtt.Client, m mqtt.Message) {
	s.mu.Lock()
	s.msgs = append(s.msgs, Message{
		Topic:    m.Topic(),
		Payload:  append([]byte(nil), m.Payload()...),
		Retained: m.Retained(),
		QoS:      m.Qos(),
	})
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Next returns the next message not yet returned by Next or WaitFor,
// waiting up to timeout for one to arrive.
func (s *Sub) Next(timeout time.Duration) (Message, error) {
	m, err := s.WaitFor(func(Message) bool { return true }, timeout)
	if err != nil {
		return Message{}, fmt.Errorf("mqtttest: no message on %q within %s (%d received in all)", s.topic, timeout, s.Len())
	}
	return m, nil
}

// WaitFor returns the first message matching pred, waiting up to timeout.
// The messages it looks at, matching or not, are consumed: a later Next or
// WaitFor starts after them.
func (s *Sub) WaitFor(pred func(Message) bool, timeout time.Duration) (Message, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var skipped []string
	for {
		s.mu.Lock()
		for s.next < len(s.msgs) {
			m := s.msgs[s.next]
			s.next++
			if pred(m) {
				s.mu.Unlock()
				return m, nil
			}
			skipped = append(skipped, m.String())
		}
		s.mu.Unlock()
		select {
		case <-s.notify:
		case <-timer.C:
			if len(skipped) > 10 {
				skipped = append(skipped[:5:5], append([]string{"..."}, skipped[len(skipped)-5:]...)...)
			}
			return Message{}, fmt.Errorf("mqtttest: no matching message on %q within %s; skipped %d: [%s]", s.topic, timeout, len(skipped), strings.Join(skipped, "; "))
		}
	}
}

// All returns a copy of every message received so far, consumed or not.
func (s *Sub) All() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.msgs))
	copy(out, s.msgs)
	return out
}

// Len is the number of messages received so far.
func (s *Sub) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// Close disconnects the subscriber. It is safe to call more than once.
func (s *Sub) Close() {
	if s.client.IsConnected() {
		s.client.Disconnect(100)
	}
}

func randomID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
