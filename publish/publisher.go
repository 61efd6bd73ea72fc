// Package publish sends autoclipd's results over MQTT and can run an
// embedded broker.
//
// A [Publisher] (Eclipse Paho) publishes one [Classification] per scored
// frame on <prefix>/<device>/<camera>/classification and keeps the retained
// <prefix>/<device>/status topic at "online" while it is connected, with a
// retained last will "offline" for when the connection dies, and "offline"
// published on [Publisher.Close]. A [Broker] (mochi-mqtt) is the in-process
// broker used when mqtt.url is "embedded".
package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Status payloads on <prefix>/<device>/status.
const (
	StatusOnline  = "online"
	StatusOffline = "offline"
)

// statusQoS is the QoS of status messages and of the last will.
const statusQoS = 1

// ErrNotConnected is returned (wrapped) by Publish for a message that
// cannot be queued while the connection to the broker is down (see
// [Publisher]): the message is dropped and counted in [Stats.Dropped].
var ErrNotConnected = errors.New("not connected to the MQTT broker: message dropped")

// ErrClosed is returned (wrapped) by Publish after Close.
var ErrClosed = errors.New("publisher closed")

// Publisher publishes to one MQTT broker under <prefix>/<device>/. All
// methods are safe for concurrent use.
//
// Connection: New starts connecting and returns; the client reconnects by
// itself whenever the connection is lost (at once, then with a back-off
// doubling from 1 s, or Options.MaxReconnectInterval if smaller, up to
// Options.MaxReconnectInterval), and if the broker cannot be reached at
// start it keeps trying every Options.ConnectRetryInterval. On every
// successful (re)connection it publishes the retained status "online"; the
// broker publishes the retained last will "offline" if the connection dies
// without a clean disconnect.
//
// While disconnected:
//   - QoS 0 messages are dropped at once: Publish returns an error wrapping
//     ErrNotConnected and Stats.Dropped counts them.
//   - QoS 1 and 2 messages published after a connection was lost are kept
//     in Paho's in-memory queue (in order) and sent once the connection is
//     back, with those not yet acknowledged when it died; Publish returns
//     nil. The queue has no bound other than the 65535 MQTT message
//     identifiers (past that Publish fails) and does not survive Close or a
//     restart.
//   - QoS 1 and 2 messages published before the first connection succeeded
//     are dropped like QoS 0 ones: with a clean session Paho would discard
//     them silently when the connection comes up.
//
// The session is clean (no broker-side state): with a persistent session,
// mochi (the embedded broker) was seen in tests to lose the "online" status
// and the last will when a reconnection took over the old session before
// mochi noticed that the old connection had died.
//
// Order: messages go out in the order of the Publish calls, with one
// exception: after a reconnection Paho resends its queue (the QoS 1 and 2
// messages published while disconnected, and those not acknowledged when
// the connection died) from a goroutine of its own, and messages published
// meanwhile may overtake queued ones. Only a queue in front of Paho that
// holds new messages back until the resend is over (issue 7) removes that.
//
// Publish never waits for the broker's acknowledgement: it returns once
// the message is written to the connection or queued, after at most
// Options.WriteTimeout; right after a connection comes up it may first
// wait, normally microseconds and at most as long again, until Paho has
// taken stock of its queue (publishing during that instant makes Paho send
// the message twice and race on it: eclipse-paho/paho.mqtt.golang#703).
type Publisher struct {
	opts   Options
	log    *slog.Logger
	client mqtt.Client
	store  *store
	status string // <prefix>/<device>/status

	// mu orders status publishes: the "online" of a reconnection never
	// goes out after the "offline" of Close.
	mu     sync.Mutex
	closed atomic.Bool

	conn atomic.Pointer[connHolder] // the current network connection

	firstAttempt     chan struct{} // closed when the first connection attempt ends
	firstAttemptOnce sync.Once

	failMu   sync.Mutex
	lastFail string // reason of the last failed attempt of the current outage

	connects  atomic.Uint64
	published atomic.Uint64
	dropped   atomic.Uint64
}

type connHolder struct{ net.Conn }

// Stats are counters of a Publisher since New.
type Stats struct {
	// Connected reports whether the connection is up now.
	Connected bool
	// Connects counts successful connections, the first one included.
	Connects uint64
	// Published counts messages accepted by Publish (sent or queued).
	Published uint64
	// Dropped counts messages dropped while disconnected (ErrNotConnected).
	Dropped uint64
}

// New validates o, fills its defaults and starts connecting to the broker
// with the last will set. It waits for the outcome of the first connection
// attempt (about Options.ConnectTimeout at most, or until ctx is done) so that a
// reachable broker is connected when New returns; if that attempt fails,
// New still returns the Publisher, which keeps retrying in the background
// (see [Publisher]). It returns an error only for invalid options or when
// ctx ends first. log may be nil.
func New(ctx context.Context, o Options, log *slog.Logger) (*Publisher, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.WithDefaults()
	broker, err := BrokerURL(o.URL)
	if err != nil { // unreachable: Validate checked it
		return nil, fmt.Errorf("mqtt.url: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Publisher{
		opts:         o,
		log:          log,
		store:        newStore(),
		status:       o.TopicPrefix + "/" + o.Device + "/status",
		firstAttempt: make(chan struct{}),
	}

	co := mqtt.NewClientOptions().
		AddBroker(broker).
		SetClientID(o.ClientID).
		SetProtocolVersion(4).
		// Clean session: see the Publisher documentation.
		SetCleanSession(true).
		SetStore(p.store).
		SetKeepAlive(o.KeepAlive).
		SetPingTimeout(min(o.KeepAlive, 10*time.Second)).
		SetConnectTimeout(o.ConnectTimeout).
		SetWriteTimeout(o.WriteTimeout).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(o.MaxReconnectInterval).
		SetConnectRetry(true).
		SetConnectRetryInterval(o.ConnectRetryInterval).
		SetWill(p.status, StatusOffline, statusQoS, true).
		SetCustomOpenConnectionFn(p.dial).
		SetOnConnectHandler(p.onConnect).
		SetConnectionNotificationHandler(p.onNotification)
	if o.Username != "" {
		co.SetUsername(o.Username)
		co.SetPassword(o.Password)
	}
	p.client = mqtt.NewClient(co)
	p.log.Debug("mqtt connecting", "options", o)
	p.client.Connect() // completes only once connected: not waited for

	wait := time.NewTimer(o.ConnectTimeout + time.Second)
	defer wait.Stop()
	select {
	case <-p.firstAttempt:
	case <-wait.C:
	case <-ctx.Done():
		p.closed.Store(true)
		p.abortConn()
		p.client.Disconnect(0)
		return nil, fmt.Errorf("mqtt %s: connecting: %w", o.URL, ctx.Err())
	}
	if !p.client.IsConnectionOpen() {
		p.log.Warn("mqtt broker not reachable yet, retrying in the background", "url", o.URL, "retry_interval", o.ConnectRetryInterval)
	}
	return p, nil
}

// dial opens the network connection for Paho and remembers it, so that
// Close can drop it without a DISCONNECT (which makes the broker publish
// the last will) when "offline" could not be confirmed.
func (p *Publisher) dial(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
	if p.closed.Load() {
		return nil, ErrClosed
	}
	d := net.Dialer{Timeout: p.opts.ConnectTimeout}
	c, err := d.Dial("tcp", u.Host)
	if err != nil {
		return nil, err
	}
	p.conn.Store(&connHolder{c})
	p.store.arm()
	return c, nil
}

// settle waits, for at most timeout, until Paho has taken its snapshot of
// queued messages after the connection came up (see store). It reports
// whether it did.
func (p *Publisher) settle(timeout time.Duration) bool {
	ch := p.store.settled()
	select {
	case <-ch:
		return true
	default:
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

func (p *Publisher) abortConn() {
	if h := p.conn.Load(); h != nil {
		_ = h.Close()
	}
}

func (p *Publisher) onConnect(c mqtt.Client) {
	n := p.connects.Add(1)
	p.failMu.Lock()
	p.lastFail = ""
	p.failMu.Unlock()

	p.settle(p.opts.WriteTimeout)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return
	}
	p.log.Info("mqtt connected", "url", p.opts.URL, "client_id", p.opts.ClientID, "connects", n)
	tok := c.Publish(p.status, statusQoS, true, StatusOnline)
	go func() {
		if !tok.WaitTimeout(p.opts.WriteTimeout+p.opts.ConnectTimeout) || tok.Error() == nil {
			return
		}
		p.log.Warn("mqtt status not published", "topic", p.status, "payload", StatusOnline, "err", tok.Error())
	}()
}

func (p *Publisher) onNotification(_ mqtt.Client, n mqtt.ConnectionNotification) {
	switch n := n.(type) {
	case mqtt.ConnectionNotificationConnected:
		p.firstAttemptOnce.Do(func() { close(p.firstAttempt) })
	case mqtt.ConnectionNotificationFailed:
		p.store.release() // no snapshot follows a failed attempt
		p.firstAttemptOnce.Do(func() { close(p.firstAttempt) })
		if p.closed.Load() {
			return
		}
		reason := fmt.Sprint(n.Reason)
		p.failMu.Lock()
		changed := reason != p.lastFail
		p.lastFail = reason
		p.failMu.Unlock()
		// One warning per outage and per new reason; repeats at debug level.
		level := slog.LevelDebug
		if changed {
			level = slog.LevelWarn
		}
		p.log.Log(context.Background(), level, "mqtt connection attempt failed", "url", p.opts.URL, "err", reason)
	case mqtt.ConnectionNotificationLost:
		p.store.release()
		if !p.closed.Load() {
			p.log.Warn("mqtt connection lost, reconnecting", "url", p.opts.URL, "err", n.Reason)
		}
	}
}

// Topic joins the topic prefix, the device and parts with '/'. It does not
// validate parts; Publish does.
func (p *Publisher) Topic(parts ...string) string {
	var b strings.Builder
	b.WriteString(p.opts.TopicPrefix)
	b.WriteByte('/')
	b.WriteString(p.opts.Device)
	for _, s := range parts {
		b.WriteByte('/')
		b.WriteString(s)
	}
	return b.String()
}

// StatusTopic is <prefix>/<device>/status.
func (p *Publisher) StatusTopic() string { return p.status }

// ClassificationTopic is <prefix>/<device>/<camera>/classification.
func (p *Publisher) ClassificationTopic(camera string) string {
	return p.Topic(camera, "classification")
}

// PublishClassification publishes m on ClassificationTopic(m.Camera) with
// Options.QoS, not retained. An empty m.Device is filled with the
// publisher's device; another device name is an error, as is a camera name
// that is not a valid topic segment. See [Publisher] for what happens while
// disconnected.
func (p *Publisher) PublishClassification(m Classification) error {
	if err := ValidateSegment(m.Camera); err != nil {
		return fmt.Errorf("classification frame %d: camera: %w", m.Frame, err)
	}
	switch m.Device {
	case "":
		m.Device = p.opts.Device
	case p.opts.Device:
	default:
		return fmt.Errorf("classification %s frame %d: device %q: this publisher is device %q", m.Camera, m.Frame, m.Device, p.opts.Device)
	}
	payload, err := m.MarshalJSON()
	if err != nil {
		return err
	}
	return p.Publish(p.ClassificationTopic(m.Camera), p.opts.QoS, false, payload)
}

// Publish sends payload on topic (see [ValidateTopic]) with the given QoS
// and retain flag. It returns once the message is written to the
// connection or queued; an error means the message will not be sent. The
// publisher keeps payload: do not modify it afterwards. See [Publisher] for
// what happens while disconnected.
func (p *Publisher) Publish(topic string, qos byte, retained bool, payload []byte) error {
	if qos > 2 {
		return fmt.Errorf("publish %s: qos %d: must be 0, 1 or 2", topic, qos)
	}
	if err := ValidateTopic(topic); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if p.closed.Load() {
		return fmt.Errorf("publish %s: %w", topic, ErrClosed)
	}
	open := p.client.IsConnectionOpen()
	if open {
		open = p.settle(p.opts.WriteTimeout)
	}
	if !open && (qos == 0 || p.connects.Load() == 0) {
		p.dropped.Add(1)
		return fmt.Errorf("publish %s: qos %d: %w", topic, qos, ErrNotConnected)
	}
	tok := p.client.Publish(topic, qos, retained, payload)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("publish %s: %w", topic, err)
		}
	default: // in flight: the acknowledgement is not waited for
	}
	p.published.Add(1)
	return nil
}

// Connected reports whether the connection to the broker is up.
func (p *Publisher) Connected() bool { return p.client.IsConnectionOpen() }

// Stats returns the publisher's counters.
func (p *Publisher) Stats() Stats {
	return Stats{
		Connected: p.client.IsConnectionOpen(),
		Connects:  p.connects.Load(),
		Published: p.published.Load(),
		Dropped:   p.dropped.Load(),
	}
}

// Close publishes the retained status "offline", waits for the broker to
// acknowledge it (until ctx is done, at most 2 x Options.WriteTimeout) and
// disconnects cleanly. If the acknowledgement does not come in time, it
// drops the connection without a DISCONNECT instead, so that the broker
// publishes the last will "offline", and returns an error saying so. If
// the connection is down when Close is called, the broker has published
// (or, once its keep-alive expires, will publish) the last will, and Close
// just stops reconnecting. Messages still queued are discarded. Paho's
// reconnection goroutine may linger until its current back-off sleep ends;
// it does not connect again. Later calls return nil.
func (p *Publisher) Close(ctx context.Context) error {
	if p.closed.Load() {
		return nil
	}
	if p.client.IsConnectionOpen() {
		wait := 5 * time.Second
		if d, ok := ctx.Deadline(); ok {
			wait = time.Until(d)
		}
		p.settle(wait)
	}
	p.mu.Lock()
	if p.closed.Swap(true) {
		p.mu.Unlock()
		return nil
	}
	var tok mqtt.Token
	if p.client.IsConnectionOpen() {
		tok = p.client.Publish(p.status, statusQoS, true, StatusOffline)
	}
	p.mu.Unlock()

	if tok == nil {
		p.log.Info("mqtt closed while disconnected: the broker publishes the last will", "url", p.opts.URL)
		p.client.Disconnect(0)
		return nil
	}
	// A connection that dies now leaves the token pending for good (the
	// session keeps it for a resume that will not come): bound the wait.
	limit := time.NewTimer(2 * p.opts.WriteTimeout)
	defer limit.Stop()
	var err error
	select {
	case <-tok.Done():
		err = tok.Error()
	case <-ctx.Done():
		err = ctx.Err()
	case <-limit.C:
		err = fmt.Errorf("no acknowledgement within %s (2 x mqtt.write_timeout)", 2*p.opts.WriteTimeout)
	}
	if err != nil {
		p.abortConn()
		p.client.Disconnect(0)
		return fmt.Errorf("mqtt %s: status %q not confirmed by the broker, connection dropped so that it publishes the last will: %w", p.opts.URL, StatusOffline, err)
	}
	quiesce := 250 * time.Millisecond
	if d, ok := ctx.Deadline(); ok {
		quiesce = max(min(time.Until(d), quiesce), 10*time.Millisecond)
	}
	p.client.Disconnect(uint(quiesce / time.Millisecond))
	p.log.Info("mqtt disconnected", "url", p.opts.URL)
	return nil
}
