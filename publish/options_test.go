package publish

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestOptionsValidate(t *testing.T) {
	ok := Options{URL: "tcp://127.0.0.1:1883", Device: "edge-1"}
	for _, tc := range []struct {
		name string
		mod  func(*Options)
		want string // "" for valid
	}{
		{"minimal", func(o *Options) {}, ""},
		{"everything set", func(o *Options) {
			*o = Options{URL: "mqtt://broker.local", ClientID: "cam-7", TopicPrefix: "home/autoclipd", Device: "garage",
				QoS: 2, KeepAlive: time.Minute, ConnectTimeout: time.Second, ConnectRetryInterval: time.Second,
				MaxReconnectInterval: time.Minute, WriteTimeout: time.Second, Username: "u", Password: "p"}
		}, ""},
		{"unicode device", func(o *Options) { o.Device = "küche 2" }, ""},
		{"empty url", func(o *Options) { o.URL = "" }, "mqtt.url: empty: want tcp://host:port"},
		{"embedded url", func(o *Options) { o.URL = "embedded" }, `mqtt.url: "embedded": start the embedded broker`},
		{"no scheme", func(o *Options) { o.URL = "localhost:1883" }, `mqtt.url: "localhost:1883": missing scheme`},
		{"tls", func(o *Options) { o.URL = "ssl://h:8883" }, ""},
		{"tls files", func(o *Options) {
			o.URL = "mqtts://h"
			o.TLS = TLSOptions{CA: "ca.pem", Cert: "c.pem", Key: "k.pem"}
		}, ""},
		{"tls on tcp", func(o *Options) { o.TLS.CA = "ca.pem" }, "mqtt.tls: set but mqtt.url is not a TLS URL: use ssl://host:port"},
		{"tls cert without key", func(o *Options) { o.URL = "tls://h"; o.TLS.Cert = "c.pem" }, `mqtt.tls.key: empty while mqtt.tls.cert is "c.pem"`},
		{"tls key without cert", func(o *Options) { o.URL = "tls://h"; o.TLS.Key = "k.pem" }, `mqtt.tls.cert: empty while mqtt.tls.key is "k.pem"`},
		{"reliable qos 3", func(o *Options) { o.ReliableQoS = 3 }, "mqtt.reliable_qos: 3: must be 1 or 2"},
		{"negative queue", func(o *Options) { o.Queue = -1 }, "mqtt.queue: -1: must be at least 1"},
		{"inflight too large", func(o *Options) { o.Inflight = 5000 }, "mqtt.inflight: 5000: must be 1 to 1024"},
		{"negative queue bytes", func(o *Options) { o.QueueBytes = -1 }, "mqtt.queue_bytes: -1: must be at least 1"},
		{"websocket", func(o *Options) { o.URL = "ws://h:80" }, `scheme "ws": websockets are not supported`},
		{"http", func(o *Options) { o.URL = "http://h" }, `unknown scheme "http"`},
		{"bad port", func(o *Options) { o.URL = "tcp://h:99999" }, `mqtt.url: "tcp://h:99999": port "99999": want 1-65535`},
		{"non-numeric port", func(o *Options) { o.URL = "tcp://h:x" }, `mqtt.url: "tcp://h:x": invalid port ":x" after host`},
		{"empty port", func(o *Options) { o.URL = "tcp://h:" }, "empty port"},
		{"no host", func(o *Options) { o.URL = "tcp://:1883" }, "missing host"},
		{"path", func(o *Options) { o.URL = "tcp://h:1883/x" }, "unexpected path, query or fragment"},
		{"credentials not echoed", func(o *Options) { o.URL = "tcp://u:secret@h:1883" }, "mqtt.url: (URL not shown: it may hold credentials): credentials in the URL: use mqtt.username and mqtt.password"},
		{"prefix wildcard +", func(o *Options) { o.TopicPrefix = "a/+" }, `mqtt.topic_prefix: "a/+": segment 2: "+": wildcard '+' at byte 0`},
		{"prefix wildcard #", func(o *Options) { o.TopicPrefix = "a#" }, `mqtt.topic_prefix: "a#": segment 1: "a#": wildcard '#' at byte 1`},
		{"prefix leading slash", func(o *Options) { o.TopicPrefix = "/a" }, `mqtt.topic_prefix: "/a": segment 1 is empty`},
		{"prefix trailing slash", func(o *Options) { o.TopicPrefix = "a/" }, `mqtt.topic_prefix: "a/": segment 2 is empty`},
		{"prefix double slash", func(o *Options) { o.TopicPrefix = "a//b" }, `segment 2 is empty`},
		{"prefix dollar", func(o *Options) { o.TopicPrefix = "$SYS" }, `mqtt.topic_prefix: "$SYS": starts with '$'`},
		{"prefix control", func(o *Options) { o.TopicPrefix = "a\nb" }, `mqtt.topic_prefix: "a\nb": segment 1: "a\nb": control character U+000A at byte 1`},
		{"device empty", func(o *Options) { o.Device = "" }, "device: empty"},
		{"device slash", func(o *Options) { o.Device = "a/b" }, `device: "a/b": '/' at byte 1`},
		{"device wildcard", func(o *Options) { o.Device = "edge+" }, `device: "edge+": wildcard '+' at byte 4`},
		{"device NUL", func(o *Options) { o.Device = "a\x00" }, `device: "a\x00": control character U+0000 at byte 1`},
		{"device bad utf8", func(o *Options) { o.Device = "a\xff" }, `device: "a\xff": not valid UTF-8`},
		{"client id space", func(o *Options) { o.ClientID = "a b" }, `mqtt.client_id: "a b": U+0020 at byte 1`},
		{"qos 3", func(o *Options) { o.QoS = 3 }, "mqtt.qos: 3: must be 0, 1 or 2"},
		{"negative timeout", func(o *Options) { o.ConnectTimeout = -time.Second }, "mqtt.connect_timeout: -1s: must not be negative"},
		{"keep alive too short", func(o *Options) { o.KeepAlive = 500 * time.Millisecond }, "mqtt.keep_alive: 500ms: must be at least 1s"},
		{"keep alive too long", func(o *Options) { o.KeepAlive = 24 * time.Hour }, "mqtt.keep_alive: 24h0m0s: must be at most"},
		{"password without user", func(o *Options) { o.Password = "x" }, "mqtt.password: set without mqtt.username"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := ok
			tc.mod(&o)
			err := o.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("no error, want %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q, want it to contain %q", err, tc.want)
			}
			if err != nil && strings.ContainsAny(err.Error(), "\n") {
				t.Errorf("error is more than one line: %q", err)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("error shows the password: %q", err)
			}
		})
	}
}

func TestBrokerURL(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"tcp with port", "tcp://10.0.0.2:1884", "tcp://10.0.0.2:1884"},
		{"default port", "tcp://broker.local", "tcp://broker.local:1883"},
		{"mqtt scheme", "mqtt://broker.local:1883", "tcp://broker.local:1883"},
		{"upper-case scheme", "TCP://h:1", "tcp://h:1"},
		{"trailing slash", "tcp://h:1883/", "tcp://h:1883"},
		{"ipv6", "tcp://[::1]:1883", "tcp://[::1]:1883"},
		{"ipv6 default port", "tcp://[fe80::1]", "tcp://[fe80::1]:1883"},
		{"leading zeros", "tcp://h:01883", "tcp://h:1883"},
		{"ssl", "ssl://h", "tls://h:8883"},
		{"mqtts", "MQTTS://h:1", "tls://h:1"},
		{"tls", "tls://[::1]", "tls://[::1]:8883"},
		{"tcps", "tcps://h:8884", "tls://h:8884"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := BrokerURL(tc.in)
			if err != nil || got != tc.want {
				t.Fatalf("BrokerURL(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	o := Options{URL: "tcp://h", Device: "edge-1", KeepAlive: time.Minute}.WithDefaults()
	want := Options{URL: "tcp://h", Device: "edge-1", ClientID: "autoclipd-edge-1", TopicPrefix: DefaultTopicPrefix,
		KeepAlive: time.Minute, ConnectTimeout: DefaultConnectTimeout, ConnectRetryInterval: DefaultConnectRetryInterval,
		MaxReconnectInterval: DefaultMaxReconnectInterval, WriteTimeout: DefaultWriteTimeout,
		ReliableQoS: DefaultReliableQoS, Queue: DefaultQueue, QueueBytes: DefaultQueueBytes, Inflight: DefaultInflight}
	if o != want {
		t.Errorf("WithDefaults:\n got %+v\nwant %+v", o, want)
	}
	if err := o.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestValidateTopic(t *testing.T) {
	for _, tc := range []struct {
		name, topic, want string
	}{
		{"ok", "autoclipd/edge-1/demo/classification", ""},
		{"single level", "a", ""},
		{"empty", "", "empty topic"},
		{"plus", "a/+", `level 2: "+": wildcard`},
		{"hash", "a/#", `level 2: "#": wildcard`},
		{"trailing slash", "a/", "level 2 is empty"},
		{"dollar", "$share/x", "starts with '$'"},
		{"too long", strings.Repeat("a", 65536), "topic of 65536 bytes: at most 65535"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateTopic(tc.topic)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// segmentOK is an independent statement of the segment rules.
func segmentOK(s string) bool {
	if s == "" || len(s) > 65535 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r == '/' || r == '+' || r == '#' || r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return false
		}
	}
	return true
}

func FuzzValidateSegment(f *testing.F) {
	for _, s := range []string{"edge-1", "", "a/b", "+", "#", "a\x00", "\xff", "küche", "$SYS", " ", "\u0085", "\u00a0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateSegment(s)
		if (err == nil) != segmentOK(s) {
			t.Fatalf("ValidateSegment(%q) = %v, rules say ok=%v", s, err, segmentOK(s))
		}
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		// A valid segment makes a valid topic and stays one level.
		topic := "autoclipd/" + s + "/status"
		if err := ValidateTopic(topic); err != nil {
			t.Fatalf("segment %q ok but topic %q: %v", s, topic, err)
		}
		if parts := strings.Split(topic, "/"); len(parts) != 3 || parts[1] != s {
			t.Fatalf("segment %q split into %q", s, parts)
		}
	})
}

func FuzzValidateTopicPrefix(f *testing.F) {
	for _, s := range []string{"autoclipd", "home/autoclipd", "/a", "a/", "a//b", "$SYS", "a/+/b", "a#", "\xff/a", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		err := ValidateTopicPrefix(p)
		want := p != "" && p[0] != '$' && len(p) <= 65535
		if want {
			for _, seg := range strings.Split(p, "/") {
				want = want && segmentOK(seg)
			}
		}
		if (err == nil) != want {
			t.Fatalf("ValidateTopicPrefix(%q) = %v, want ok=%v", p, err, want)
		}
		if err == nil {
			if terr := ValidateTopic(p + "/edge-1/status"); terr != nil {
				t.Fatalf("prefix %q ok but topic invalid: %v", p, terr)
			}
		} else if strings.Contains(err.Error(), "\n") {
			t.Fatalf("multi-line error %q", err)
		}
	})
}

func FuzzBrokerURL(f *testing.F) {
	for _, s := range []string{"tcp://h:1883", "mqtt://h", "ssl://h:8883", "tcp://u:p@h", "tcp://[::1]:1", "tcp://h:0", "embedded", "", "tcp://h:1883/x?y#z", "tcp:h", "tcp://%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := BrokerURL(raw)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			if strings.Contains(raw, "@") && strings.Contains(err.Error(), raw) {
				t.Fatalf("error repeats a URL with credentials: %q", err)
			}
			return
		}
		if !strings.HasPrefix(got, "tcp://") && !strings.HasPrefix(got, "tls://") {
			t.Fatalf("BrokerURL(%q) = %q: not tcp:// nor tls://", raw, got)
		}
		// The result is a fixed point.
		again, err := BrokerURL(got)
		if err != nil || again != got {
			t.Fatalf("BrokerURL(%q) = %q, then %q, %v", raw, got, again, err)
		}
	})
}
