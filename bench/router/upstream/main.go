// Command upstream is the benchmark's fixed model server: it answers every request with the same small Open
// Inference Protocol v2 response, after -delay (0: at once). It prints its address and serves until killed.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

const response = `{"model_name":"bench","model_version":"1","outputs":[{"name":"probabilities","shape":[1,3],"datatype":"FP32","data":[0.1,0.7,0.2]}]}`

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	delay := flag.Duration("delay", 0, "time to wait before answering (a slow shadow)")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	body := []byte(response)
	err = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if *delay > 0 {
			select {
			case <-time.After(*delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
