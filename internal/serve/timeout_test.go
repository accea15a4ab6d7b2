package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// A client that sends its headers and then trickles the body, a byte a second, is cut off about as soon as one that
// trickles its headers (ReadHeaderTimeout), instead of holding a connection and a goroutine for a minute.
func TestASlowRequestBodyIsCutOffLikeSlowHeaders(t *testing.T) {
	t.Parallel()
	s := New(Options{Name: "m"})
	s.SetModel(&blocking{started: make(chan struct{}, 1), release: make(chan struct{})}, 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln, time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := fmt.Fprintf(conn, "POST /v2/models/m/infer HTTP/1.1\r\nHost: m\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	const limit = 15 * time.Second // ReadHeaderTimeout (10 s) and some slack for a loaded machine
	_ = conn.SetReadDeadline(start.Add(2 * limit))
	_, err = io.Copy(io.Discard, conn) // until the server answers and closes the connection
	var ne net.Error
	if took := time.Since(start); took > limit || (errors.As(err, &ne) && ne.Timeout()) {
		t.Errorf("the server kept reading a body sent a byte a second for %s, want it cut off within %s", took.Round(time.Second), limit)
	}
}
