package router

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// pools are the keep-alive connections to the upstreams: one fasthttp.HostClient per address, shared by the versions
// there, so that maxConnsPerHost caps the connections to a host as http.Transport did. A HostClient writes a request
// and reads its answer on the calling goroutine, where http.Transport hands each request to a writer and a reader
// goroutine per connection and back (bench/router/README.md: 30% of the router's CPU).
type pools struct {
	maxConns int
	timeout  time.Duration // for the upstream's first response bytes

	mu     sync.Mutex
	byAddr map[string]*fasthttp.HostClient
}

func newPools(maxConns int, responseHeaderTimeout time.Duration) *pools {
	return &pools{maxConns: maxConns, timeout: responseHeaderTimeout, byAddr: map[string]*fasthttp.HostClient{}}
}

// same reports whether p has the settings a configuration asks for, so a reload keeps its connections.
func (p *pools) same(maxConns int, responseHeaderTimeout time.Duration) bool {
	return p.maxConns == maxConns && p.timeout == responseHeaderTimeout
}

// client returns the pool of addr (host:port), never compressing and never normalising paths or header names
// beyond canonical case: bodies and request targets pass through as the client sent them.
func (p *pools) client(addr string) *fasthttp.HostClient {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.byAddr[addr]; ok {
		return c
	}
	maxConns := p.maxConns
	if maxConns == 0 {
		maxConns = 1 << 30 // no limit, as http.Transport's 0
	}
	c := &fasthttp.HostClient{
		Addr:                     addr,
		Dial:                     dialUpstream,
		MaxConns:                 maxConns,
		MaxConnWaitTimeout:       365 * 24 * time.Hour, // requests beyond the cap wait for a connection
		MaxIdleConnDuration:      90 * time.Second,
		ReadTimeout:              p.timeout, // lifted once the answer starts: see upstreamConn
		ReadBufferSize:           16 << 10,
		WriteBufferSize:          16 << 10,
		NoDefaultUserAgentHeader: true,
		DisablePathNormalizing:   true,
		StreamResponseBody:       true,
		RetryIfErr:               retryIf,
	}
	p.byAddr[addr] = c
	return c
}

// closeIdle closes the connections no request is using.
func (p *pools) closeIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.byAddr {
		c.CloseIdleConnections()
	}
}

// retryIf sends a request again on a new connection when the kept-alive one it was given turned out closed before
// anything was written, or when it is idempotent, as http.Transport does; a POST the upstream may have read is never
// sent twice (TestAPostTheUpstreamDiedOnAfterReadingItIsNotReplayed).
func retryIf(req *fasthttp.Request, _ int, err error) (resetTimeout, retry bool) {
	h := &req.Header
	return false, errors.Is(err, errStale) || h.IsGet() || h.IsHead() || h.IsPut() || h.IsOptions() || h.IsDelete() || h.IsTrace()
}

// errStale is a kept-alive connection the upstream closed while it was idle, found before a request was written.
var errStale = errors.New("the upstream closed the idle connection")

// staleAfter is how long a connection may sit idle before it is checked for a close by the upstream before reuse;
// connections in constant use are not checked (a system call each).
const staleAfter = 100 * time.Millisecond

var upstreamDialer = &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}

func dialUpstream(addr string) (net.Conn, error) {
	c, err := upstreamDialer.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	uc := &upstreamConn{Conn: c, idle: time.Now(), next: true}
	if sc, ok := c.(syscall.Conn); ok {
		uc.raw, _ = sc.SyscallConn()
	}
	return uc, nil
}

// upstreamConn is one connection to an upstream. The client's read deadline bounds the wait for the response's first
// bytes only (timeouts.upstream, as http.Transport's ResponseHeaderTimeout): a streamed answer may take longer. A
// connection idle for staleAfter is checked before reuse, so that a request is not written to a connection the
// upstream already closed.
type upstreamConn struct {
	net.Conn
	raw     syscall.RawConn // nil when the connection has none
	waiting bool            // a read deadline is set for the response's first bytes
	next    bool            // the next write starts a request
	idle    time.Time       // when the last response bytes arrived
}

func (c *upstreamConn) SetReadDeadline(t time.Time) error {
	c.waiting = !t.IsZero()
	return c.Conn.SetReadDeadline(t)
}

func (c *upstreamConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.idle, c.next = time.Now(), true
		if c.waiting {
			c.waiting = false
			_ = c.Conn.SetReadDeadline(time.Time{})
		}
	}
	return n, err
}

func (c *upstreamConn) Write(p []byte) (int, error) {
	if c.next {
		// Only before the first byte of a request: a stale connection is then known to have received nothing.
		c.next = false
		if time.Since(c.idle) > staleAfter && peerClosed(c.raw, false) {
			return 0, errStale
		}
	}
	return c.Conn.Write(p)
}

// peerClosed reports whether the other end of raw has closed it (or reset it), without consuming anything. With wait
// it first waits for something to read (until raw's read deadline: false then); without, nothing to read is false.
func peerClosed(raw syscall.RawConn, wait bool) bool {
	if raw == nil {
		return false
	}
	closed := false
	var b [1]byte
	_ = raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR) {
			return !wait // nothing yet: with wait, the poller waits until it is readable
		}
		closed = n == 0 || err != nil
		return true
	})
	return closed
}
