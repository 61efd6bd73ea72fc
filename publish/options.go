package publish

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Defaults applied by [Options.WithDefaults] to zero-valued fields.
const (
	DefaultTopicPrefix          = "autoclipd"
	DefaultPort                 = "1883"
	DefaultKeepAlive            = 30 * time.Second
	DefaultConnectTimeout       = 10 * time.Second
	DefaultConnectRetryInterval = 2 * time.Second
	DefaultMaxReconnectInterval = 30 * time.Second
	DefaultWriteTimeout         = 5 * time.Second
	DefaultTLSPort              = "8883"
	// DefaultReliableQoS is the QoS of events, state, status and discovery
	// messages.
	DefaultReliableQoS = 1
	// DefaultInflight is the default of Options.Inflight: one message at a
	// time, the only setting under which a publish that fails on a live
	// connection cannot let a later message overtake it.
	DefaultInflight = 1
	maxInflight     = 1024
)

// maxTopicLen is the MQTT limit on the UTF-8 length of a topic name.
const maxTopicLen = 65535

// Options configures a [Publisher]. The zero value of every field except URL
// and Device means "use the default" (see [Options.WithDefaults]). The error
// messages of [Options.Validate] name fields as the daemon configuration
// spells them: mqtt.url, mqtt.client_id, mqtt.topic_prefix, device, mqtt.qos,
// mqtt.keep_alive and so on.
type Options struct {
	// URL is the broker address: tcp://host[:port] or mqtt://host[:port]
	// (port 1883 when omitted), or with TLS ssl://, tls://, mqtts:// or
	// tcps://host[:port] (port 8883 when omitted). The daemon resolves
	// "embedded" to the address of [StartBroker]'s listener before it
	// builds Options.
	URL string
	// ClientID is the MQTT client identifier, "autoclipd-<Device>" when
	// empty. It must be unique on the broker: a second client with the same
	// identifier makes the broker disconnect the first one.
	ClientID string
	// TopicPrefix is the first part of every topic, one or more segments
	// joined by '/', DefaultTopicPrefix when empty.
	TopicPrefix string
	// Device names this daemon; it is the topic segment after the prefix.
	Device string
	// QoS is the quality of service of classification messages (0, 1 or
	// 2). The status "online"/"offline" and the last will always use QoS 1.
	QoS byte
	// ReliableQoS is the QoS [Publisher.MsgFor] gives events, state,
	// status and discovery messages: 1 or 2, DefaultReliableQoS when 0.
	ReliableQoS byte
	// Queue bounds the outgoing queue, in messages (DefaultQueue when 0).
	// See [Publisher] for what is dropped past the bound.
	Queue int
	// QueueBytes bounds the outgoing queue in bytes of topics and payloads
	// (DefaultQueueBytes when 0), so that large messages (snapshots) keep
	// memory bounded too.
	QueueBytes int64
	// Inflight is how many messages the sender may have sent and not yet
	// seen acknowledged (DefaultInflight when 0; 1 sends one at a time).
	// More than one keeps a high-latency link busy (16 in flight: 0.22 ms
	// per message through a 2 ms round trip, against 2.34 ms one at a
	// time); after a lost connection the sender starts again from the
	// oldest unacknowledged message, so order holds across reconnects. But
	// when one publish fails while the connection stays up, the messages
	// after it in the window may already be on the wire and arrive before
	// its resend (seen under heavy load): use more than one only where a
	// subscriber that drops duplicates by seq also tolerates that.
	Inflight int
	// QueueDir, when set, keeps the outgoing queue on disk in this
	// directory (created if needed) so that messages not yet sent survive
	// a restart. One Publisher at a time may use a directory.
	QueueDir string
	// TLS configures the TLS connection of ssl://, tls://, mqtts:// and
	// tcps:// URLs.
	TLS TLSOptions
	// Observer, if not nil, is told about connections and messages as
	// they happen (for metrics; *ops.Metrics implements it).
	Observer Observer
	// KeepAlive is the MQTT keep-alive interval.
	KeepAlive time.Duration
	// ConnectTimeout bounds one connection attempt (TCP and CONNECT/CONNACK).
	ConnectTimeout time.Duration
	// ConnectRetryInterval is the pause between attempts while the first
	// connection has not succeeded yet.
	ConnectRetryInterval time.Duration
	// MaxReconnectInterval caps the exponential back-off (starting at 1 s)
	// between reconnection attempts after a connection was lost.
	MaxReconnectInterval time.Duration
	// WriteTimeout bounds how long the sender may wait to hand a message
	// to the network connection, and how long one write to the connection
	// may take before the connection is considered lost; Close keeps up
	// to this long for the "offline" status. Publish itself never waits.
	WriteTimeout time.Duration
	// Username and Password authenticate to the broker; Password is never
	// logged (see [Options.LogValue]).
	Username, Password string
}

// WithDefaults returns a copy of o with every zero-valued field that has a
// default filled in. It does not validate.
func (o Options) WithDefaults() Options {
	o.TopicPrefix = cmp.Or(o.TopicPrefix, DefaultTopicPrefix)
	if o.ClientID == "" && o.Device != "" {
		o.ClientID = "autoclipd-" + o.Device
	}
	o.KeepAlive = cmp.Or(o.KeepAlive, DefaultKeepAlive)
	o.ConnectTimeout = cmp.Or(o.ConnectTimeout, DefaultConnectTimeout)
	o.ConnectRetryInterval = cmp.Or(o.ConnectRetryInterval, DefaultConnectRetryInterval)
	o.MaxReconnectInterval = cmp.Or(o.MaxReconnectInterval, DefaultMaxReconnectInterval)
	o.WriteTimeout = cmp.Or(o.WriteTimeout, DefaultWriteTimeout)
	o.ReliableQoS = cmp.Or(o.ReliableQoS, DefaultReliableQoS)
	o.Queue = cmp.Or(o.Queue, DefaultQueue)
	o.QueueBytes = cmp.Or(o.QueueBytes, DefaultQueueBytes)
	o.Inflight = cmp.Or(o.Inflight, DefaultInflight)
	return o
}

// Validate checks o and returns the first problem found, as one line that
// names the configuration field. Zero values that have a default are valid.
func (o Options) Validate() error {
	if _, err := BrokerURL(o.URL); err != nil {
		return fmt.Errorf("mqtt.url: %w", err)
	}
	if o.TopicPrefix != "" {
		if err := ValidateTopicPrefix(o.TopicPrefix); err != nil {
			return fmt.Errorf("mqtt.topic_prefix: %w", err)
		}
	}
	if o.Device == "" {
		return errors.New("device: empty: the device name is required (it is the topic segment after mqtt.topic_prefix)")
	}
	if err := ValidateSegment(o.Device); err != nil {
		return fmt.Errorf("device: %w", err)
	}
	if err := validateClientID(o.ClientID); err != nil {
		return fmt.Errorf("mqtt.client_id: %w", err)
	}
	if o.QoS > 2 {
		return fmt.Errorf("mqtt.qos: %d: must be 0, 1 or 2", o.QoS)
	}
	if o.ReliableQoS > 2 {
		return fmt.Errorf("mqtt.reliable_qos: %d: must be 1 or 2 (0 means the default, 1)", o.ReliableQoS)
	}
	if o.Queue < 0 {
		return fmt.Errorf("mqtt.queue: %d: must be at least 1 (0 means the default, %d)", o.Queue, DefaultQueue)
	}
	if o.Inflight < 0 || o.Inflight > maxInflight {
		return fmt.Errorf("mqtt.inflight: %d: must be 1 to %d (0 means the default, %d)", o.Inflight, maxInflight, DefaultInflight)
	}
	if o.QueueBytes < 0 {
		return fmt.Errorf("mqtt.queue_bytes: %d: must be at least 1 (0 means the default, %d)", o.QueueBytes, DefaultQueueBytes)
	}
	if err := o.TLS.validate(isTLSURL(o.URL)); err != nil {
		return err
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{
		{"mqtt.keep_alive", o.KeepAlive},
		{"mqtt.connect_timeout", o.ConnectTimeout},
		{"mqtt.connect_retry_interval", o.ConnectRetryInterval},
		{"mqtt.max_reconnect_interval", o.MaxReconnectInterval},
		{"mqtt.write_timeout", o.WriteTimeout},
	} {
		if d.v < 0 {
			return fmt.Errorf("%s: %s: must not be negative", d.field, d.v)
		}
	}
	if o.KeepAlive != 0 && o.KeepAlive < time.Second {
		return fmt.Errorf("mqtt.keep_alive: %s: must be at least 1s (MQTT counts it in whole seconds)", o.KeepAlive)
	}
	if o.KeepAlive > 65535*time.Second {
		return fmt.Errorf("mqtt.keep_alive: %s: must be at most 18h12m15s (65535 s)", o.KeepAlive)
	}
	if o.Password != "" && o.Username == "" {
		return errors.New("mqtt.password: set without mqtt.username")
	}
	if err := validateMQTTString(o.Username); err != nil {
		return fmt.Errorf("mqtt.username: %w", err)
	}
	return nil
}

// LogValue implements [slog.LogValuer]: the options without the password.
func (o Options) LogValue() slog.Value {
	pw := ""
	if o.Password != "" {
		pw = "(set)"
	}
	return slog.GroupValue(
		slog.String("url", o.URL),
		slog.String("client_id", o.ClientID),
		slog.String("topic_prefix", o.TopicPrefix),
		slog.String("device", o.Device),
		slog.Int("qos", int(o.QoS)),
		slog.String("username", o.Username),
		slog.String("password", pw),
		slog.Int("queue", o.Queue),
		slog.Int64("queue_bytes", o.QueueBytes),
		slog.Int("inflight", o.Inflight),
		slog.String("queue_dir", o.QueueDir),
		slog.String("tls_ca", o.TLS.CA),
		slog.String("tls_cert", o.TLS.Cert),
		slog.String("tls_key", o.TLS.Key),
		slog.Bool("tls_insecure_skip_verify", o.TLS.InsecureSkipVerify),
	)
}

// BrokerURL parses an mqtt.url value and returns it normalised for the
// client as tcp://host:port, or tls://host:port for TLS. Accepted schemes
// are tcp and mqtt (port 1883 by default), and ssl, tls, mqtts and tcps
// (TLS, port 8883 by default). Credentials in the URL are refused (they would end up in
// logs): use Options.Username and Options.Password. Errors do not repeat a
// URL that contains '@'.
func BrokerURL(raw string) (string, error) {
	shown := strconv.Quote(raw)
	if strings.Contains(raw, "@") {
		shown = "(URL not shown: it may hold credentials)"
	}
	switch {
	case raw == "":
		return "", errors.New("empty: want tcp://host:port")
	case raw == "embedded":
		return "", errors.New(`"embedded": start the embedded broker (StartBroker) and connect to its tcp:// address`)
	case !strings.Contains(raw, "://"):
		return "", fmt.Errorf("%s: missing scheme: want tcp://host:port", shown)
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("%s: %v", shown, err)
	}
	scheme, defPort := "tcp", DefaultPort
	switch strings.ToLower(u.Scheme) {
	case "tcp", "mqtt":
	case "ssl", "tls", "mqtts", "tcps":
		scheme, defPort = "tls", DefaultTLSPort
	case "ws", "wss":
		return "", fmt.Errorf("%s: scheme %q: websockets are not supported: use tcp://", shown, u.Scheme)
	default:
		return "", fmt.Errorf("%s: unknown scheme %q: want tcp://host:port", shown, u.Scheme)
	}
	if u.User != nil {
		return "", fmt.Errorf("%s: credentials in the URL: use mqtt.username and mqtt.password", shown)
	}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", fmt.Errorf("%s: unexpected path, query or fragment: want tcp://host:port", shown)
	}
	host := u.Hostname()
	if host == "" {
		return "", fmt.Errorf("%s: missing host: want tcp://host:port", shown)
	}
	port := u.Port()
	if port == "" {
		if strings.HasSuffix(u.Host, ":") {
			return "", fmt.Errorf("%s: empty port", shown)
		}
		port = defPort
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%s: port %q: want 1-65535", shown, port)
	}
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(n)), nil
}

// isTLSURL reports whether raw is a valid TLS broker URL.
func isTLSURL(raw string) bool {
	u, err := BrokerURL(raw)
	return err == nil && strings.HasPrefix(u, "tls://")
}

// ValidateSegment reports whether s can be used as one level of an MQTT
// topic name: not empty, valid UTF-8, no '/', no wildcard ('+', '#'), no
// control character (which includes NUL), at most 65535 bytes.
func ValidateSegment(s string) error {
	if s == "" {
		return errors.New("empty topic segment")
	}
	if len(s) > maxTopicLen {
		return fmt.Errorf("topic segment of %d bytes: at most %d", len(s), maxTopicLen)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%q: not valid UTF-8", s)
	}
	for i, r := range s {
		switch {
		case r == '/':
			return fmt.Errorf("%q: '/' at byte %d: a single topic segment cannot contain '/'", s, i)
		case r == '+' || r == '#':
			return fmt.Errorf("%q: wildcard %q at byte %d: not allowed in a topic name", s, r, i)
		case isControl(r):
			return fmt.Errorf("%q: control character %U at byte %d", s, r, i)
		}
	}
	return nil
}

// ValidateTopicPrefix reports whether p can start every topic: one or more
// segments joined by '/', each valid for [ValidateSegment] (so no empty
// segment, no leading or trailing '/'), and not starting with '$', which is
// reserved for broker topics such as $SYS.
func ValidateTopicPrefix(p string) error {
	if p == "" {
		return errors.New("empty")
	}
	if p[0] == '$' {
		return fmt.Errorf("%q: starts with '$': topics starting with '$' are reserved for the broker", p)
	}
	if len(p) > maxTopicLen {
		return fmt.Errorf("prefix of %d bytes: at most %d", len(p), maxTopicLen)
	}
	for i, seg := range strings.Split(p, "/") {
		if seg == "" {
			return fmt.Errorf("%q: segment %d is empty (leading, trailing or doubled '/')", p, i+1)
		}
		if err := ValidateSegment(seg); err != nil {
			return fmt.Errorf("%q: segment %d: %w", p, i+1, err)
		}
	}
	return nil
}

// ValidateTopic reports whether t is a topic name a client may publish to:
// not empty, at most 65535 bytes of valid UTF-8, no wildcard, no control
// character, not starting with '$'. Empty levels are legal MQTT but refused
// here: every topic this daemon builds has non-empty levels.
func ValidateTopic(t string) error {
	if t == "" {
		return errors.New("empty topic")
	}
	if t[0] == '$' {
		return fmt.Errorf("topic %q: starts with '$': reserved for the broker", t)
	}
	if len(t) > maxTopicLen {
		return fmt.Errorf("topic of %d bytes: at most %d", len(t), maxTopicLen)
	}
	for i, seg := range strings.Split(t, "/") {
		if seg == "" {
			return fmt.Errorf("topic %q: level %d is empty", t, i+1)
		}
		if err := ValidateSegment(seg); err != nil {
			return fmt.Errorf("topic %q: level %d: %w", t, i+1, err)
		}
	}
	return nil
}

// validateClientID accepts the empty string (a default is derived from the
// device) and any MQTT string without control characters.
func validateClientID(id string) error {
	if id == "" {
		return nil
	}
	if err := validateMQTTString(id); err != nil {
		return err
	}
	for i, r := range id {
		if isControl(r) || r == ' ' {
			return fmt.Errorf("%q: %U at byte %d: use letters, digits, '-' and '_'", id, r, i)
		}
	}
	return nil
}

// validateMQTTString checks the MQTT rules for UTF-8 strings: valid UTF-8,
// no NUL, at most 65535 bytes.
func validateMQTTString(s string) error {
	if len(s) > maxTopicLen {
		return fmt.Errorf("%d bytes: at most %d", len(s), maxTopicLen)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%q: not valid UTF-8", s)
	}
	if i := strings.IndexByte(s, 0); i >= 0 {
		return fmt.Errorf("%q: NUL at byte %d", s, i)
	}
	return nil
}

// isControl reports the C0 and C1 control characters and DEL, which the
// MQTT specification says topic names should not contain.
func isControl(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r <= 0x9f)
}
