// Package publish sends autoclipd's results over MQTT and can run an
// embedded broker.
//
// A [Publisher] (Eclipse Paho) publishes every message through its own
// bounded, ordered queue (in memory, or on disk with Options.QueueDir), so
// that nothing is lost while the broker is away and messages go out in the
// order they were published. It keeps the retained
// <prefix>/<device>/status topic at "online" while it is connected, with a
// retained last will "offline" for when the connection dies, and "offline"
// published on [Publisher.Close]. [Publisher.Subscribe] delivers control
// messages (kept across reconnections). A [Broker] (mochi-mqtt) is the
// in-process broker used when mqtt.url is "embedded".
package publish

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
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

// closeFlushLimit bounds Close's flush when its context has no deadline.
const closeFlushLimit = 5 * time.Second

// ErrDropped is wrapped by Publish's error when the queue is full of
// messages of the same or a higher class and the new message is dropped
// (and counted in Stats.DroppedByClass).
var ErrDropped = errors.New("outgoing queue full: message dropped")

// ErrClosed is returned (wrapped) by Publish after Close.
var ErrClosed = errors.New("publisher closed")

// Publisher publishes to one MQTT broker under <prefix>/<device>/. All
// methods are safe for concurrent use.
//
// Queue: Publish only appends the message to the Publisher's outgoing
// queue and returns; one goroutine sends the oldest messages, at most
// Options.Inflight at a time on the connection, and removes each from the
// queue, in order, once it is done (PUBACK for QoS 1, PUBCOMP for QoS 2,
// written for QoS 0). So messages go out in the order of the Publish
// calls, across reconnections and, with Options.QueueDir, across restarts:
// when a connection is lost, the messages not yet acknowledged are sent
// again on the next one, from the oldest (QoS 1 duplicates, never a
// reordering or a gap; subscribers drop duplicates by their own sequence
// numbers). No Paho Publish call spans a reconnection: the next attempt
// waits for one still in progress (at most Options.WriteTimeout), which
// Paho would otherwise write first on the new connection. While the broker is
// away, before the first connection too, messages of every QoS wait in the
// queue. The queue holds at most Options.Queue messages and
// Options.QueueBytes bytes; past that, the oldest message of the lowest
// class present is dropped (snapshots first, then classifications,
// discovery, state, control, status, and events last; see [Class]), or the
// new one if every queued message has a higher class. Drops are counted
// per class in [Stats] and reported to Options.Observer. A message in
// flight when the connection died ten connections in a row (one the broker
// refuses by disconnecting, such as a packet past its size limit) is
// dropped and logged as an error, so that it cannot block the queue.
//
// Connection: New starts connecting and returns; the Publisher reconnects
// by itself whenever the connection is lost (at once, then with a back-off
// doubling from 1 s, or Options.MaxReconnectInterval if smaller, up to
// Options.MaxReconnectInterval), and if the broker cannot be reached at
// start it keeps trying every Options.ConnectRetryInterval. A failed
// attempt is logged as a warning once per outage and reason (a TLS
// certificate error names the certificate problem), then at debug level.
// On every successful (re)connection it publishes the retained status
// "online" before anything queued; the broker publishes the retained last
// will "offline" if the connection dies without a clean disconnect.
//
// The MQTT session is clean (no broker-side state): the queue is the
// Publisher's own, and Paho's store is only used for the message in flight.
type Publisher struct {
	opts    Options
	log     *slog.Logger
	obs     Observer
	client  mqtt.Client
	q       *queue
	tlsConf *tls.Config
	status  string // <prefix>/<device>/status

	closed atomic.Bool
	quit   chan struct{} // closed by Close once the queue is flushed
	wg     sync.WaitGroup

	// pubMu is held by the sender around each Paho Publish call, and taken
	// by connectLoop after a connection is lost, before it connects again:
	// a Publish call still blocked when Paho's old connection has stopped
	// would otherwise be written first on the next connection, ahead of
	// the older messages the sender sends again.
	pubMu sync.Mutex

	// mu guards the connection state.
	mu      sync.Mutex
	pending *link         // the connection being made or up
	cur     *link         // non-nil while connected
	changed chan struct{} // closed and replaced when cur changes

	conn atomic.Pointer[connHolder] // the current network connection

	firstAttempt     chan struct{} // closed when the first connection attempt ends
	firstAttemptOnce sync.Once

	connects  atomic.Uint64
	published atomic.Uint64
	sent      atomic.Uint64

	subMu    sync.Mutex
	subs     map[string]subscription // by filter
	inbox    chan inMsg              // received messages for the dispatcher
	inDrops  atomic.Uint64
	dispatch sync.WaitGroup
	// stopDispatch ends the dispatcher (Close, after disconnecting).
	stopDispatch chan struct{}
}

// Handler is called with each message received on a subscribed filter.
type Handler func(topic string, payload []byte)

type subscription struct {
	qos byte
	h   Handler
}

type inMsg struct {
	h       Handler
	topic   string
	payload []byte
}

// inboxSize bounds the received messages waiting for their handlers.
const inboxSize = 256

// link is one MQTT connection; down is closed when it is lost.
type link struct {
	down chan struct{}
	once sync.Once
	err  atomic.Value // error: why it was lost
}

func (l *link) lost(err error) {
	l.once.Do(func() {
		if err != nil {
			l.err.Store(err)
		}
		close(l.down)
	})
}

type connHolder struct{ net.Conn }

// Stats are counters of a Publisher since New.
type Stats struct {
	// Connected reports whether the connection is up now.
	Connected bool
	// Connects counts successful connections, the first one included.
	Connects uint64
	// Reconnects counts successful connections after the first one.
	Reconnects uint64
	// Published counts messages accepted by Publish (queued).
	Published uint64
	// Sent counts messages the broker acknowledged (QoS 1 and 2) or that
	// were written to the connection (QoS 0). A message sent again after a
	// lost acknowledgement counts once more.
	Sent uint64
	// Dropped counts messages dropped because the queue was full, all
	// classes together.
	Dropped uint64
	// DroppedByClass counts them per class, indexed by Class.
	DroppedByClass [NumClasses]uint64
	// QueueDepth is the number of messages queued now (the one in flight
	// included), QueueMax the largest it has been.
	QueueDepth, QueueMax int
	// DiskErrors counts failed writes to Options.QueueDir (the messages
	// stay queued in memory).
	DiskErrors uint64
	// ReceivedDropped counts received messages dropped because the
	// Subscribe handlers fell behind.
	ReceivedDropped uint64
}

// NumClasses is the number of message classes.
const NumClasses = numClasses

// New validates o, fills its defaults, opens the queue (reading back what
// Options.QueueDir holds from a previous run) and starts connecting to the
// broker with the last will set. It waits for the outcome of the first
// connection attempt (about Options.ConnectTimeout at most, or until ctx
// is done) so that a reachable broker is connected when New returns; if
// that attempt fails, New still returns the Publisher, which keeps
// retrying in the background (see [Publisher]). It returns an error for
// invalid options, unreadable TLS files, a queue directory it cannot use,
// or when ctx ends first. log may be nil.
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
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	p := &Publisher{
		opts:         o,
		log:          log,
		obs:          o.Observer,
		status:       o.TopicPrefix + "/" + o.Device + "/status",
		quit:         make(chan struct{}),
		changed:      make(chan struct{}),
		firstAttempt: make(chan struct{}),
		subs:         map[string]subscription{},
		inbox:        make(chan inMsg, inboxSize),
		stopDispatch: make(chan struct{}),
	}
	if strings.HasPrefix(broker, "tls://") {
		if p.tlsConf, err = o.TLS.Config(); err != nil {
			return nil, err
		}
	}
	if p.q, err = openQueue(o.Queue, o.QueueBytes, o.QueueDir, log, func(c Class) { p.obs.MQTTDropped(c.String()) }); err != nil {
		return nil, err
	}

	co := mqtt.NewClientOptions().
		AddBroker(broker).
		SetClientID(o.ClientID).
		SetProtocolVersion(4).
		SetCleanSession(true).
		SetKeepAlive(o.KeepAlive).
		SetPingTimeout(min(o.KeepAlive, 10*time.Second)).
		SetConnectTimeout(o.ConnectTimeout).
		SetWriteTimeout(o.WriteTimeout).
		// The Publisher reconnects itself: with Paho's reconnection, the
		// tokens of messages in flight when the connection died would stay
		// pending, and Paho would resend them out of order.
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetWill(p.status, StatusOffline, statusQoS, true).
		SetCustomOpenConnectionFn(p.dial).
		SetConnectionLostHandler(p.onLost)
	if o.Username != "" {
		co.SetUsername(o.Username)
		co.SetPassword(o.Password)
	}
	p.client = mqtt.NewClient(co)
	p.log.Debug("mqtt connecting", "options", o)
	p.dispatch.Add(1)
	go p.dispatchLoop()
	p.wg.Add(2)
	go p.connectLoop()
	go p.sendLoop()

	wait := time.NewTimer(o.ConnectTimeout + time.Second)
	defer wait.Stop()
	select {
	case <-p.firstAttempt:
	case <-wait.C:
	case <-ctx.Done():
		cctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = p.Close(cctx)
		return nil, fmt.Errorf("mqtt %s: connecting: %w", o.URL, ctx.Err())
	}
	if !p.Connected() {
		p.log.Warn("mqtt broker not reachable yet, retrying in the background", "url", o.URL, "retry_interval", o.ConnectRetryInterval)
	}
	return p, nil
}

// dial opens the network connection for Paho (TLS for tls:// URLs) and
// remembers it, so that Close can drop it without a DISCONNECT (which
// makes the broker publish the last will) when "offline" could not be
// confirmed.
func (p *Publisher) dial(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
	select {
	case <-p.quit:
		return nil, ErrClosed
	default:
	}
	d := &net.Dialer{Timeout: p.opts.ConnectTimeout}
	var c net.Conn
	var err error
	if u.Scheme == "tls" {
		ctx, cancel := context.WithTimeout(context.Background(), p.opts.ConnectTimeout)
		defer cancel()
		td := tls.Dialer{NetDialer: d, Config: p.tlsConf}
		c, err = td.DialContext(ctx, "tcp", u.Host)
		if err != nil {
			return nil, fmt.Errorf("TLS connection to %s: %w", u.Host, err)
		}
		if c, err = awaitTLSVerdict(c.(*tls.Conn)); err != nil {
			return nil, fmt.Errorf("TLS connection to %s: refused by the broker after the handshake (client certificate missing or not trusted?): %w", u.Host, err)
		}
	} else if c, err = d.Dial("tcp", u.Host); err != nil {
		return nil, err
	}
	p.conn.Store(&connHolder{c})
	return c, nil
}

// tlsAlertWait is how long a new TLS 1.3 connection waits for an alert.
const tlsAlertWait = 100 * time.Millisecond

// awaitTLSVerdict waits briefly for the broker's verdict on the client
// certificate: with TLS 1.3 the client's handshake completes before the
// server has checked it, and a refusal otherwise shows up later as a
// connection reset that says nothing about certificates.
func awaitTLSVerdict(c *tls.Conn) (net.Conn, error) {
	if c.ConnectionState().Version != tls.VersionTLS13 {
		return c, nil
	}
	_ = c.SetReadDeadline(time.Now().Add(tlsAlertWait))
	var b [1]byte
	n, err := c.Read(b[:])
	_ = c.SetReadDeadline(time.Time{})
	var ne net.Error
	switch {
	case n > 0: // not expected before CONNECT: keep the byte
		return &prefixConn{Conn: c, pre: b[:n]}, nil
	case errors.As(err, &ne) && ne.Timeout(): // no alert: accepted
		return c, nil
	case err == nil:
		return c, nil
	}
	_ = c.Close()
	return nil, err
}

// prefixConn returns pre before what it reads from Conn.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (c *prefixConn) Read(b []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(b, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// addrPair matches the "local->remote: " part of network errors, which
// changes with every attempt.
var addrPair = regexp.MustCompile(`\S+->\S+: `)

func (p *Publisher) abortConn() {
	if h := p.conn.Load(); h != nil {
		_ = h.Close()
	}
}

func (p *Publisher) onLost(_ mqtt.Client, err error) {
	p.mu.Lock()
	l := p.pending
	p.mu.Unlock()
	if l != nil {
		l.lost(err)
	}
}

// onOwnStatus sees the Publisher's own status topic: "offline" while
// connected and not closing is a late last will, answered by "online".
func (p *Publisher) onOwnStatus(c mqtt.Client, m mqtt.Message) {
	if string(m.Payload()) != StatusOffline || p.closed.Load() || !p.Connected() {
		return
	}
	p.log.Info("mqtt status offline while connected (a late last will): publishing online again", "topic", p.status)
	go c.Publish(p.status, statusQoS, true, StatusOnline) // not from Paho's goroutine
}

// setCur records the current connection (nil: none) and wakes waiters.
func (p *Publisher) setCur(l *link) {
	p.mu.Lock()
	p.cur = l
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	p.obs.SetMQTTConnected(l != nil)
}

// Observer receives a Publisher's events as they happen, for metrics.
// Its methods are called from the Publisher's goroutines (MQTTDropped
// from Publish's) and must not block. *ops.Metrics implements it.
type Observer interface {
	// SetMQTTConnected says whether the connection is up now.
	SetMQTTConnected(connected bool)
	// MQTTReconnect counts a connection after the first one.
	MQTTReconnect()
	// MQTTPublished counts a message of the class (Class.String) that the
	// broker acknowledged (or, for QoS 0, that was written).
	MQTTPublished(class string)
	// MQTTDropped counts a message of the class dropped from the full
	// queue.
	MQTTDropped(class string)
}

type nopObserver struct{}

func (nopObserver) SetMQTTConnected(bool) {}
func (nopObserver) MQTTReconnect()        {}
func (nopObserver) MQTTPublished(string)  {}
func (nopObserver) MQTTDropped(string)    {}

// waitUp returns the current connection, waiting until there is one; nil
// once the Publisher quits.
func (p *Publisher) waitUp() *link {
	for {
		p.mu.Lock()
		l, ch := p.cur, p.changed
		p.mu.Unlock()
		if l != nil {
			select {
			case <-l.down: // lost: connectLoop is about to clear it
			default:
				return l
			}
		}
		select {
		case <-ch:
		case <-p.quit:
			return nil
		}
	}
}

// sleep waits for d or until the Publisher quits; it reports whether d
// passed.
func (p *Publisher) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.quit:
		return false
	}
}

// connectLoop connects, waits for the connection to be lost and connects
// again, until the Publisher quits.
func (p *Publisher) connectLoop() {
	defer p.wg.Done()
	var lastFail string // reason of the last failed attempt of this outage
	backoff := time.Duration(0)
	for {
		l := &link{down: make(chan struct{})}
		p.mu.Lock()
		p.pending = l
		p.mu.Unlock()
		tok := p.client.Connect()
		select {
		case <-tok.Done():
		case <-p.quit:
			return
		}
		if err := tok.Error(); err != nil {
			p.firstAttemptOnce.Do(func() { close(p.firstAttempt) })
			reason := err.Error()
			level := slog.LevelDebug // repeats of the same reason
			if key := addrPair.ReplaceAllString(reason, ""); key != lastFail {
				level = slog.LevelWarn
				lastFail = key
			}
			p.log.Log(context.Background(), level, "mqtt connection attempt failed", "url", p.opts.URL, "err", reason)
			wait := p.opts.ConnectRetryInterval
			if p.connects.Load() > 0 {
				backoff = min(max(2*backoff, time.Second), p.opts.MaxReconnectInterval)
				wait = backoff
			}
			if !p.sleep(wait) {
				return
			}
			continue
		}
		lastFail, backoff = "", 0
		n := p.connects.Add(1)
		if n > 1 {
			p.obs.MQTTReconnect()
		}
		p.log.Info("mqtt connected", "url", p.opts.URL, "client_id", p.opts.ClientID, "connects", n)
		// "online" goes out before anything queued.
		online := p.client.Publish(p.status, statusQoS, true, StatusOnline)
		go func() {
			if !online.WaitTimeout(p.opts.WriteTimeout+p.opts.ConnectTimeout) || online.Error() == nil {
				return
			}
			p.log.Warn("mqtt status not published", "topic", p.status, "payload", StatusOnline, "err", online.Error())
		}()
		// A last will of the previous connection that the broker
		// publishes after this "online" (mochi does, when the new
		// connection takes over the old session before it noticed the old
		// one died) would leave the status "offline": watch it.
		p.client.Subscribe(p.status, statusQoS, p.onOwnStatus)
		p.subscribeAll()
		p.setCur(l)
		p.firstAttemptOnce.Do(func() { close(p.firstAttempt) })
		select {
		case <-l.down:
		case <-p.quit:
			return
		}
		p.pubMu.Lock() // no Publish call may span the reconnection
		p.setCur(nil)
		p.pubMu.Unlock()
		why, _ := l.err.Load().(error)
		p.log.Warn("mqtt connection lost, reconnecting", "url", p.opts.URL, "err", why, "queued", p.q.depth())
	}
}

// poisonStrikes is how many connections in a row may end while the same
// message is in flight before it is taken for one the broker refuses
// (mosquitto disconnects a client whose packet is past max_packet_size)
// and dropped, so that it does not block the queue for ever.
const poisonStrikes = 10

// sendLoop sends the queue's oldest messages while connected, at most
// Options.Inflight at a time, and removes them from the queue as they are
// acknowledged, in order. When the connection is lost, what was not
// acknowledged is sent again on the next one, from the oldest.
func (p *Publisher) sendLoop() {
	defer p.wg.Done()
	type pending struct {
		r   *record
		tok mqtt.Token
	}
	var win []pending
	var strikeSeq uint64 // the message in flight when the last connections died
	var strikeLink *link // the last connection counted
	strikes := 0
	strike := func(r *record, l *link) {
		if l == strikeLink {
			return // one strike per connection
		}
		strikeLink = l
		if r.seq != strikeSeq {
			strikeSeq, strikes = r.seq, 0
		}
		strikes++
		if strikes < poisonStrikes {
			return
		}
		p.q.discard(r)
		strikes = 0
		p.log.Error("mqtt message dropped: the connection died each time it was sent", "topic", r.topic, "bytes", len(r.payload), "class", r.msg.Class, "attempts", poisonStrikes)
	}
	// restart forgets the window: its messages are sent again, from the
	// oldest, once the next connection is up. A lost connection counts a
	// strike against the oldest.
	restart := func(l *link, lost bool) {
		first := win[0].r
		p.q.release()
		clear(win)
		win = win[:0]
		if lost {
			// The oldest must be first in the queue again for discard.
			if r := p.q.next(); r == first {
				strike(r, l)
			}
			p.q.release()
		}
	}
	var winLink *link // the connection the window was sent on
	for {
		l := p.waitUp()
		if l == nil {
			return
		}
		if l != winLink {
			if len(win) > 0 { // sent on a connection since lost
				restart(winLink, true)
			}
			winLink = l
		}
		for len(win) < p.opts.Inflight {
			p.pubMu.Lock()
			if isClosed(l.down) {
				p.pubMu.Unlock()
				break
			}
			r := p.q.next()
			if r == nil {
				p.pubMu.Unlock()
				break
			}
			win = append(win, pending{r, p.client.Publish(r.topic, r.msg.QoS, r.msg.Retained, r.payload)})
			p.pubMu.Unlock()
		}
		if len(win) == 0 {
			select {
			case <-p.q.notify:
			case <-l.down:
			case <-p.quit:
				return
			}
			continue
		}
		var more <-chan struct{}
		if len(win) < p.opts.Inflight {
			more = p.q.notify
		}
		select {
		case <-win[0].tok.Done():
			if err := win[0].tok.Error(); err != nil {
				p.log.Debug("mqtt publish failed, retrying", "topic", win[0].r.topic, "err", err)
				select { // normally the connection is lost: wait for the next one
				case <-l.down:
					restart(l, true)
				case <-time.After(100 * time.Millisecond):
					restart(l, false)
				case <-p.quit:
					p.q.release()
					return
				}
				continue
			}
			for len(win) > 0 && done(win[0].tok) && win[0].tok.Error() == nil {
				r := win[0].r
				p.q.ack(r)
				p.sent.Add(1)
				p.obs.MQTTPublished(r.msg.Class.String())
				if r.seq == strikeSeq {
					strikes = 0
				}
				win[0] = pending{}
				win = win[1:]
			}
		case <-more: // new messages: fill the window
		case <-l.down: // sent again on the next connection
			restart(l, true)
		case <-p.quit:
			p.q.release()
			return
		}
	}
}

func done(t mqtt.Token) bool { return isClosed(t.Done()) }

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Subscribe calls h with every message received on filter (wildcards
// allowed) at the given QoS, from now on and after every reconnection (the
// session is clean, so the Publisher subscribes again on each connection;
// retained messages are delivered again then). Handlers run one message at
// a time, in arrival order, on a goroutine of the Publisher, not Paho's: a
// slow handler delays the next messages, and past 256 waiting messages new
// ones are dropped and logged. Subscribing again to the same filter
// replaces its handler. The subscription is made at once if connected;
// its acknowledgement is not waited for. A handler must not call Close.
func (p *Publisher) Subscribe(filter string, qos byte, h Handler) error {
	if qos > 2 {
		return fmt.Errorf("subscribe %s: qos %d: must be 0, 1 or 2", filter, qos)
	}
	if err := validateFilter(filter); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	if h == nil {
		return fmt.Errorf("subscribe %s: nil handler", filter)
	}
	if p.closed.Load() {
		return fmt.Errorf("subscribe %s: %w", filter, ErrClosed)
	}
	p.subMu.Lock()
	p.subs[filter] = subscription{qos: qos, h: h}
	p.subMu.Unlock()
	if p.Connected() {
		p.subscribe(filter, qos, h)
	}
	return nil
}

// validateFilter checks an MQTT topic filter: not empty, valid UTF-8,
// '#' only as the whole last level, '+' only as a whole level.
func validateFilter(f string) error {
	if f == "" {
		return errors.New("empty topic filter")
	}
	if err := validateMQTTString(f); err != nil {
		return fmt.Errorf("topic filter %w", err)
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return fmt.Errorf("topic filter %q: '#' must be the whole last level", f)
		}
		if strings.Contains(l, "+") && l != "+" {
			return fmt.Errorf("topic filter %q: '+' must be a whole level", f)
		}
	}
	return nil
}

func (p *Publisher) subscribe(filter string, qos byte, h Handler) {
	tok := p.client.Subscribe(filter, qos, func(_ mqtt.Client, m mqtt.Message) {
		select {
		case p.inbox <- inMsg{h: h, topic: m.Topic(), payload: m.Payload()}:
		default:
			if p.inDrops.Add(1) == 1 || p.inDrops.Load()%100 == 0 {
				p.log.Warn("mqtt received message dropped: handlers too slow", "topic", m.Topic(), "dropped", p.inDrops.Load())
			}
		}
	})
	go func() {
		if !tok.WaitTimeout(p.opts.WriteTimeout+p.opts.ConnectTimeout) || tok.Error() == nil {
			return
		}
		p.log.Warn("mqtt subscribe failed", "filter", filter, "err", tok.Error())
	}()
}

// subscribeAll subscribes every filter on a new connection.
func (p *Publisher) subscribeAll() {
	p.subMu.Lock()
	defer p.subMu.Unlock()
	for f, s := range p.subs {
		p.subscribe(f, s.qos, s.h)
	}
}

func (p *Publisher) dispatchLoop() {
	defer p.dispatch.Done()
	for {
		select {
		case m := <-p.inbox:
			m.h(m.topic, m.payload)
		case <-p.stopDispatch:
			return
		}
	}
}

// JoinTopic joins prefix, device and parts with '/':
// JoinTopic("autoclipd", "edge-1", "yard", "event") is
// "autoclipd/edge-1/yard/event". It does not validate.
func JoinTopic(prefix, device string, parts ...string) string {
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteByte('/')
	b.WriteString(device)
	for _, s := range parts {
		b.WriteByte('/')
		b.WriteString(s)
	}
	return b.String()
}

// Topic joins the topic prefix, the device and parts with '/'. It does not
// validate parts; Publish does.
func (p *Publisher) Topic(parts ...string) string {
	return JoinTopic(p.opts.TopicPrefix, p.opts.Device, parts...)
}

// CameraTopic is <prefix>/<device>/<camera>/<kind>, e.g. kind "event"; it
// checks that camera is a valid topic segment and names it if not.
func (p *Publisher) CameraTopic(camera, kind string) (string, error) {
	if err := ValidateSegment(camera); err != nil {
		return "", fmt.Errorf("camera %q: %w", camera, err)
	}
	return p.Topic(camera, kind), nil
}

// StatusTopic is <prefix>/<device>/status.
func (p *Publisher) StatusTopic() string { return p.status }

// ClassificationTopic is <prefix>/<device>/<camera>/classification.
func (p *Publisher) ClassificationTopic(camera string) string {
	return p.Topic(camera, "classification")
}

// Options returns the options the Publisher runs with, defaults filled in.
func (p *Publisher) Options() Options { return p.opts }

// PublishClassification publishes m on ClassificationTopic(m.Camera) with
// MsgFor(ClassClassification) (Options.QoS, not retained). An empty
// m.Device is filled with the publisher's device; another device name is
// an error, as is a camera name that is not a valid topic segment.
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
	return p.Publish(p.ClassificationTopic(m.Camera), payload, p.MsgFor(ClassClassification))
}

// Publish queues payload for topic (see [ValidateTopic]) with m's QoS,
// retain flag and class, and returns; see [Publisher] for when it is sent.
// The error is nil when the message is queued, wraps ErrDropped when the
// full queue dropped it at once, ErrClosed after Close, and names the
// topic and the field for an invalid message. The publisher keeps
// payload: do not modify it afterwards.
func (p *Publisher) Publish(topic string, payload []byte, m Msg) error {
	if m.QoS > 2 {
		return fmt.Errorf("publish %s: qos %d: must be 0, 1 or 2", topic, m.QoS)
	}
	if !m.Class.valid() {
		return fmt.Errorf("publish %s: %v: unknown message class", topic, m.Class)
	}
	if err := ValidateTopic(topic); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if len(payload) > maxPayload-len(topic)-16 {
		return fmt.Errorf("publish %s: payload of %d bytes: larger than an MQTT packet allows", topic, len(payload))
	}
	if p.closed.Load() {
		return fmt.Errorf("publish %s: %w", topic, ErrClosed)
	}
	if p.q.push(topic, payload, m) {
		return fmt.Errorf("publish %s (%s): %w", topic, m.Class, ErrDropped)
	}
	p.published.Add(1)
	return nil
}

// QueueDepth is the number of messages queued now, the one being sent
// included (for a gauge).
func (p *Publisher) QueueDepth() int { return p.q.depth() }

// Connected reports whether the connection to the broker is up.
func (p *Publisher) Connected() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur != nil
}

// Stats returns the publisher's counters.
func (p *Publisher) Stats() Stats {
	dropped, depth, maxDepth, diskErrors := p.q.counters()
	s := Stats{
		DiskErrors:      diskErrors,
		ReceivedDropped: p.inDrops.Load(),
		Connected:       p.Connected(),
		Connects:        p.connects.Load(),
		Published:       p.published.Load(),
		Sent:            p.sent.Load(),
		DroppedByClass:  dropped,
		QueueDepth:      depth,
		QueueMax:        maxDepth,
	}
	s.Reconnects = max(s.Connects, 1) - 1
	for _, n := range dropped {
		s.Dropped += n
	}
	return s
}

// Close stops accepting messages, sends what is queued until ctx is done
// (or for at most 5 s if ctx has no deadline; not at all while
// disconnected with Options.QueueDir, where the messages wait on disk),
// keeping a little of the time for the status: it then publishes the retained status "offline",
// waits for the broker to acknowledge it (until ctx is done, at most 2 x
// Options.WriteTimeout) and disconnects cleanly. If the acknowledgement
// does not come in time, it drops the connection without a DISCONNECT
// instead, so that the broker publishes the last will "offline", and
// returns an error saying so. If the connection is down, the broker has
// published (or, once its keep-alive expires, will publish) the last will.
// Messages not sent stay on disk with Options.QueueDir (sent after the
// next New) and are lost otherwise; Close logs how many. Later calls
// return nil.
func (p *Publisher) Close(ctx context.Context) error {
	if p.closed.Swap(true) {
		return nil
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(closeFlushLimit)
	}
	// Keep a quarter of the time, at most one write timeout, for "offline".
	flushBy := deadline.Add(-min(p.opts.WriteTimeout, time.Until(deadline)/4))
	for p.q.depth() > 0 && ctx.Err() == nil && time.Now().Before(flushBy) {
		if p.opts.QueueDir != "" && !p.Connected() {
			break // safe on disk: no need to wait for the broker
		}
		time.Sleep(5 * time.Millisecond)
	}
	left := p.q.depth()
	close(p.quit)
	p.wg.Wait()

	var err error
	if p.Connected() {
		err = p.goOffline(ctx)
	} else {
		p.abortConn()
		p.client.Disconnect(0)
		p.log.Info("mqtt closed while disconnected: the broker publishes the last will", "url", p.opts.URL)
	}
	p.setCur(nil)
	close(p.stopDispatch)
	p.dispatch.Wait()
	if qerr := p.q.close(); qerr != nil {
		err = errors.Join(err, qerr)
	}
	if left > 0 {
		where := "lost"
		if p.opts.QueueDir != "" {
			where = "kept in " + p.opts.QueueDir + " for the next start"
		}
		p.log.Warn("mqtt closed with messages not sent", "messages", left, "fate", where)
	}
	return err
}

// goOffline publishes "offline" on a live connection and disconnects.
func (p *Publisher) goOffline(ctx context.Context) error {
	tok := p.client.Publish(p.status, statusQoS, true, StatusOffline)
	// A connection that dies now may leave the token pending: bound the wait.
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
