package mqtttest

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy is a TCP proxy in front of a broker. Cutting its connections looks,
// to both the client and the broker, like a network failure: the broker
// sees the connection end without an MQTT DISCONNECT and publishes the
// client's last will.
type Proxy struct {
	l      net.Listener
	target string

	mu     sync.Mutex
	pairs  map[*pair]struct{}
	down   bool // refuse new connections (see Down)
	closed bool
	wg     sync.WaitGroup

	delay atomic.Int64 // one-way latency, nanoseconds (see SetDelay)
}

type pair struct{ client, broker net.Conn }

func (p *pair) close() {
	// Reset the client side at once (no lingering FIN handshake) and close
	// the broker side.
	if tc, ok := p.client.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = p.client.Close()
	_ = p.broker.Close()
}

// NewProxy listens on a free 127.0.0.1 port and forwards every connection
// to target (host:port). It is closed by t.Cleanup.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mqtttest: proxy listen: %v", err)
	}
	p := &Proxy{l: l, target: target, pairs: map[*pair]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's address, host:port.
func (p *Proxy) Addr() string { return p.l.Addr().String() }

// URL is tcp://Addr().
func (p *Proxy) URL() string { return "tcp://" + p.Addr() }

// Conns is the number of connections being forwarded now.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pairs)
}

// Cut closes every forwarded connection, both sides, and returns how many
// there were. New connections are still accepted.
func (p *Proxy) Cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.pairs)
	for pr := range p.pairs {
		pr.close()
		delete(p.pairs, pr)
	}
	return n
}

// Down simulates a network outage: it cuts every connection and, until
// Up, closes new ones as soon as they are accepted.
func (p *Proxy) Down() {
	p.mu.Lock()
	p.down = true
	p.mu.Unlock()
	p.Cut()
}

// SetDelay makes the proxy hold every chunk of data it forwards, in both
// directions, for d before writing it (a one-way latency of d, a round
// trip of 2d). 0 turns it off.
func (p *Proxy) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

// Up ends an outage started by Down.
func (p *Proxy) Up() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// Close stops accepting connections, cuts the open ones and waits for the
// forwarding goroutines to end. It is safe to call more than once.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	_ = p.l.Close()
	p.Cut()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return // listener closed
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			_ = c.Close()
			continue
		}
		b, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close() // broker down: the client sees a refused-like close
			continue
		}
		pr := &pair{client: c, broker: b}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			pr.close()
			return
		}
		p.pairs[pr] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(pr, b, c)
		go p.pipe(pr, c, b)
	}
}

// pipe copies src to dst (holding each chunk for the delay); when either
// side ends, the pair is closed.
func (p *Proxy) pipe(pr *pair, dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if d := time.Duration(p.delay.Load()); d > 0 {
				time.Sleep(d)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	p.mu.Lock()
	delete(p.pairs, pr)
	p.mu.Unlock()
	pr.close()
}
