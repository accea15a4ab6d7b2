package router

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// connPool is a keep-alive HTTP/1.1 client to one upstream address, lighter than http.Transport: the calling
// goroutine writes the request and reads the response itself, so a proxied request costs no goroutine hand-offs
// (http.Transport passes each request to a writer and a reader goroutine per connection). On two cores that took
// about a quarter off the CPU time per proxied request and raised the router from 0.50 to 0.75 of nginx's
// closed-loop throughput in bench/router.
type connPool struct {
	addr          string
	maxIdle       int
	headerTimeout time.Duration
	dialer        net.Dialer

	mu   sync.Mutex
	idle []*upstreamConn // most recently used last
}

// upstreamConn is one connection of a pool.
type upstreamConn struct {
	net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	pool     *connPool
	lastUsed time.Time
	received int // bytes read since the request was written
}

// countingReader counts what its connection receives, so a failure can tell whether the upstream answered anything.
type countingReader struct{ c *upstreamConn }

func (r countingReader) Read(p []byte) (int, error) {
	n, err := r.c.Conn.Read(p)
	r.c.received += n
	return n, err
}

// idleTimeout closes pooled connections unused this long; upstream servers usually close theirs after 60 to 120 s.
const idleTimeout = 50 * time.Second

func newConnPool(addr string, maxIdle int, headerTimeout time.Duration) *connPool {
	return &connPool{addr: addr, maxIdle: maxIdle, headerTimeout: headerTimeout,
		dialer: net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}}
}

// get returns an idle connection (reused true) or dials a new one.
func (p *connPool) get(ctx context.Context) (c *upstreamConn, reused bool, err error) {
	now := time.Now()
	p.mu.Lock()
	for len(p.idle) > 0 {
		c = p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if now.Sub(c.lastUsed) < idleTimeout {
			p.mu.Unlock()
			return c, true, nil
		}
		c.Close()
	}
	p.mu.Unlock()
	nc, err := p.dialer.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, false, err
	}
	c = &upstreamConn{Conn: nc, bw: bufio.NewWriterSize(nc, 16<<10), pool: p}
	c.br = bufio.NewReaderSize(countingReader{c}, 16<<10)
	return c, false, nil
}

// put returns a connection whose response was read completely.
func (p *connPool) put(c *upstreamConn) {
	c.lastUsed = time.Now()
	p.mu.Lock()
	if len(p.idle) < p.maxIdle {
		p.idle = append(p.idle, c)
		c = nil
	}
	p.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// closeIdle closes every idle connection.
func (p *connPool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
}

// roundTrip sends req and returns the response; the connection goes back to the pool once the body is read to the
// end and closed. A reused connection the upstream had closed while idle is retried once on a new one, as
// http.Transport does: nothing was processed.
func (p *connPool) roundTrip(ctx context.Context, req *upstreamRequest) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		c, reused, err := p.get(ctx)
		if err != nil {
			return nil, err
		}
		resp, err := c.exchange(ctx, req, p.headerTimeout)
		if err == nil {
			return resp, nil
		}
		c.Close()
		if !reused || attempt > 0 || ctx.Err() != nil || c.received > 0 || !staleConn(err) {
			return nil, err
		}
	}
}

// staleConn reports whether err, with nothing received, means the upstream had closed a kept-alive connection.
func staleConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// exchange writes req and reads the response headers on c, within headerTimeout, abandoning them when ctx ends.
func (c *upstreamConn) exchange(ctx context.Context, req *upstreamRequest, headerTimeout time.Duration) (*http.Response, error) {
	c.received = 0
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	if headerTimeout > 0 {
		_ = c.SetDeadline(time.Now().Add(headerTimeout))
	}
	req.write(c.bw)
	if err := c.bw.Flush(); err != nil {
		stop()
		return nil, err
	}
	var resp *http.Response
	var err error
	for {
		resp, err = http.ReadResponse(c.br, req.head())
		if err != nil {
			stop()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		// 1xx interim responses (103 Early Hints) have no body; the real one follows.
	}
	if headerTimeout > 0 {
		_ = c.SetDeadline(time.Time{})
	}
	resp.Body = &pooledBody{ReadCloser: resp.Body, conn: c, stop: stop, reusable: !resp.Close}
	return resp, nil
}

// pooledBody returns its connection to the pool when the body was read to the end.
type pooledBody struct {
	io.ReadCloser
	conn     *upstreamConn
	stop     func() bool
	reusable bool
	eof      bool
	done     bool
}

func (b *pooledBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		b.eof = true
	}
	return n, err
}

func (b *pooledBody) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	err := b.ReadCloser.Close()
	// stop reports false when ctx ended and poisoned the connection's deadline.
	if b.stop() && b.eof && b.reusable && err == nil {
		b.conn.pool.put(b.conn)
	} else {
		b.conn.Close()
	}
	return err
}

// upstreamRequest is a request to a primary upstream, written straight onto the connection: what http.Request.Write
// would write for it, without building the outgoing request, its header map and its transfer writer first (about a
// dozen allocations per request).
type upstreamRequest struct {
	method              string
	prefix, path, query string // the upstream's escaped path prefix; the request's escaped path and raw query
	host                string
	header              http.Header // the client's; written without hop-by-hop headers and X-Marina-Version
	trace               http.Header // the router span's traceparent and tracestate, replacing the client's; nil without
	forwardedFor        string      // the client's address, appended to X-Forwarded-For
	body                []byte
}

// Headers net/http's server keeps in Request.Header that the writer sets itself.
var ownHeaders = []string{"Host", "Content-Length", "User-Agent"}

// write writes the request; errors surface at the Flush that follows.
func (q *upstreamRequest) write(bw *bufio.Writer) {
	bw.WriteString(q.method)
	bw.WriteByte(' ')
	bw.WriteString(q.prefix)
	bw.WriteString(q.path)
	if q.prefix == "" && q.path == "" {
		bw.WriteByte('/')
	}
	if q.query != "" {
		bw.WriteByte('?')
		bw.WriteString(q.query)
	}
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(q.host)
	bw.WriteString("\r\n")
	// A client without User-Agent gets none upstream either, rather than Go's.
	if ua := q.header["User-Agent"]; len(ua) > 0 && ua[0] != "" {
		writeField(bw, "User-Agent", ua[0])
	}
	conn := q.header["Connection"]
	for k, vs := range q.header {
		if k == versionHeaderKey || k == "X-Forwarded-For" || slices.Contains(hopHeaders, k) || slices.Contains(ownHeaders, k) ||
			(len(conn) > 0 && connectionNames(conn, k)) {
			continue
		}
		if _, replaced := q.trace[k]; replaced {
			continue
		}
		for _, v := range vs {
			writeField(bw, k, v)
		}
	}
	for k, vs := range q.trace {
		for _, v := range vs {
			writeField(bw, k, v)
		}
	}
	if prior, ip := q.header["X-Forwarded-For"], q.forwardedFor; len(prior) > 0 || ip != "" {
		bw.WriteString("X-Forwarded-For: ")
		for i, p := range prior {
			if i > 0 {
				bw.WriteString(", ")
			}
			bw.WriteString(p)
		}
		if ip != "" {
			if len(prior) > 0 {
				bw.WriteString(", ")
			}
			bw.WriteString(ip)
		}
		bw.WriteString("\r\n")
	}
	// As http.Request.Write: a length for any body, and 0 for the methods that carry one.
	if len(q.body) > 0 || q.method == http.MethodPost || q.method == http.MethodPut || q.method == http.MethodPatch {
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(len(q.body)), 10))
		bw.WriteString("\r\n")
	}
	bw.WriteString("\r\n")
	bw.Write(q.body)
}

// writeField writes one header line. net/http's server has checked the client's names and values: no CR or LF.
func writeField(bw *bufio.Writer, k, v string) {
	bw.WriteString(k)
	bw.WriteString(": ")
	bw.WriteString(v)
	bw.WriteString("\r\n")
}

// Requests http.ReadResponse reads responses to; it looks only at their method (a HEAD response has no body).
var (
	headRequest  = &http.Request{Method: http.MethodHead}
	otherRequest = &http.Request{Method: http.MethodPost}
)

func (q *upstreamRequest) head() *http.Request {
	if q.method == http.MethodHead {
		return headRequest
	}
	return otherRequest
}
