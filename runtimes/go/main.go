// The Kube-Serverless Go runtime: the program inside every replica of a Go function.
//
// The Go builder (src/build/go-builder.ts) copies this file into the function's
// package as kss_main.go, adds kss_handle.go binding the user's
//
//	func Handle(w http.ResponseWriter, r *http.Request)
//
// to kssUserHandle, and compiles both with the user's code. Standard library only,
// compatible with Go 1.19. Every top-level name starts with "kss" so it cannot clash
// with the user's package main.
//
// Environment: PORT (required), HOST (default 0.0.0.0), KSS_FUNCTION_NAME (log
// prefix), KSS_GRACE_MS (drain limit on SIGTERM, default 10000), KSS_PARENT_PIPE=1
// (exit when stdin reaches end-of-file: the platform went away).
//
// GET /health, /ready and /metrics are the runtime's; every other request goes to
// Handle. A panic in Handle is a 500 "Internal Server Error" (the panic and its stack
// go to stderr, never to the caller). SIGTERM/SIGINT stop accepting, let in-flight
// requests finish (bounded by KSS_GRACE_MS) and exit 0.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Exit codes, as the Node runtime's.
const (
	kssExitOK        = 0
	kssExitFailure   = 1
	kssExitBadConfig = 2
)

// kssDurationBuckets are prom-client's default buckets, as the Node runtime's.
var kssDurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

type kssMetricsT struct {
	mu       sync.Mutex
	byCode   map[int]uint64
	buckets  []uint64
	sum      float64
	count    uint64
	inFlight int64
}

var kssMetrics = &kssMetricsT{byCode: map[int]uint64{}, buckets: make([]uint64, len(kssDurationBuckets))}

func (m *kssMetricsT) begin() { atomic.AddInt64(&m.inFlight, 1) }

func (m *kssMetricsT) end(code int, seconds float64) {
	atomic.AddInt64(&m.inFlight, -1)
	m.mu.Lock()
	m.byCode[code]++
	for i, le := range kssDurationBuckets {
		if seconds <= le {
			m.buckets[i]++
		}
	}
	m.sum += seconds
	m.count++
	m.mu.Unlock()
}

func (m *kssMetricsT) render() string {
	var b strings.Builder
	m.mu.Lock()
	defer m.mu.Unlock()
	b.WriteString("# HELP runtime_requests_total Requests handled by the function, by HTTP status code.\n")
	b.WriteString("# TYPE runtime_requests_total counter\n")
	codes := make([]string, 0, len(m.byCode))
	for code := range m.byCode {
		codes = append(codes, strconv.Itoa(code))
	}
	sort.Strings(codes)
	for _, code := range codes {
		n, _ := strconv.Atoi(code)
		fmt.Fprintf(&b, "runtime_requests_total{code=\"%s\"} %d\n", code, m.byCode[n])
	}
	b.WriteString("# HELP runtime_request_duration_seconds Time from request received to response finished, in seconds.\n")
	b.WriteString("# TYPE runtime_request_duration_seconds histogram\n")
	for i, le := range kssDurationBuckets {
		fmt.Fprintf(&b, "runtime_request_duration_seconds_bucket{le=\"%s\"} %d\n", strconv.FormatFloat(le, 'g', -1, 64), m.buckets[i])
	}
	fmt.Fprintf(&b, "runtime_request_duration_seconds_bucket{le=\"+Inf\"} %d\n", m.count)
	fmt.Fprintf(&b, "runtime_request_duration_seconds_sum %s\n", strconv.FormatFloat(m.sum, 'g', -1, 64))
	fmt.Fprintf(&b, "runtime_request_duration_seconds_count %d\n", m.count)
	b.WriteString("# HELP runtime_requests_in_flight Requests currently being handled by the function.\n")
	b.WriteString("# TYPE runtime_requests_in_flight gauge\n")
	fmt.Fprintf(&b, "runtime_requests_in_flight %d\n", atomic.LoadInt64(&m.inFlight))
	return b.String()
}

var kssLogPrefix = "[kss-runtime function]"

func kssInfo(format string, args ...interface{}) {
	fmt.Fprintf(os.Stdout, "%s %s\n", kssLogPrefix, fmt.Sprintf(format, args...))
}

func kssError(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "%s error: %s\n", kssLogPrefix, fmt.Sprintf(format, args...))
}

// kssWriter records the status the handler sent.
type kssWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *kssWriter) WriteHeader(code int) {
	if !w.wrote && code >= 200 {
		w.status = code
		w.wrote = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *kssWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status = http.StatusOK
		w.wrote = true
	}
	return w.ResponseWriter.Write(b)
}

// Flush keeps streaming handlers (server-sent events) working through the wrapper.
func (w *kssWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		if !w.wrote {
			w.status = http.StatusOK
			w.wrote = true
		}
		f.Flush()
	}
}

// Hijack lets a handler take over the connection (WebSocket upgrades).
func (w *kssWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := w.ResponseWriter.(http.Hijacker); ok {
		w.wrote = true
		w.status = http.StatusSwitchingProtocols
		return h.Hijack()
	}
	return nil, nil, errors.New("the connection cannot be hijacked")
}

// Unwrap lets http.ResponseController (Go 1.20+) reach the server's writer.
func (w *kssWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var kssDraining int32

func kssJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func kssServe(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		switch r.URL.Path {
		case "/health":
			kssJSON(w, 200, `{"status":"ok"}`)
			return
		case "/ready":
			if atomic.LoadInt32(&kssDraining) == 1 {
				kssJSON(w, 503, `{"status":"shutting down"}`)
			} else {
				kssJSON(w, 200, `{"status":"ready"}`)
			}
			return
		case "/metrics":
			text := kssMetrics.render()
			w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
			w.Header().Set("Content-Length", strconv.Itoa(len(text)))
			w.WriteHeader(200)
			io.WriteString(w, text)
			return
		}
	}
	kssInvoke(w, r)
}

func kssInvoke(w http.ResponseWriter, r *http.Request) {
	started := time.Now()
	rw := &kssWriter{ResponseWriter: w}
	if atomic.LoadInt32(&kssDraining) == 1 {
		w.Header().Set("Connection", "close")
	}
	kssMetrics.begin()
	defer func() {
		code := rw.status
		if !rw.wrote {
			code = http.StatusOK
		}
		if r.Context().Err() != nil {
			// The client went away before the handler finished.
			code = 499
		}
		kssMetrics.end(code, time.Since(started).Seconds())
	}()
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		if p == http.ErrAbortHandler {
			panic(p)
		}
		kssError("handler panicked on %s %s (answered 500): %v\n%s", r.Method, r.URL.Path, p, debug.Stack())
		if rw.wrote {
			// The status is out already: cutting the connection is the only honest signal left.
			panic(http.ErrAbortHandler)
		}
		h := w.Header()
		for k := range h {
			delete(h, k)
		}
		h.Set("Content-Type", "text/plain; charset=utf-8")
		rw.WriteHeader(http.StatusInternalServerError)
		io.WriteString(rw, "Internal Server Error")
	}()
	kssUserHandle(rw, r)
}

func kssExit(code int) {
	os.Stdout.Sync()
	os.Stderr.Sync()
	os.Exit(code)
}

func main() {
	if name := os.Getenv("KSS_FUNCTION_NAME"); name != "" {
		kssLogPrefix = "[kss-runtime " + name + "]"
	}
	// KSS_NOFILE=N (a fresh replica in the sandbox): lower RLIMIT_NOFILE, soft and hard,
	// before serving; lowering needs no privilege, so the sandbox saves exec'ing prlimit
	// (~1 ms per cold start measured on 2 cores).
	if raw := os.Getenv("KSS_NOFILE"); raw != "" {
		os.Unsetenv("KSS_NOFILE")
		n, err := strconv.ParseUint(raw, 10, 64)
		if err == nil {
			err = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n})
		}
		if err != nil {
			kssError("cannot set the open-files limit to %q: %v", raw, err)
			kssExit(kssExitFailure)
		}
	}
	// In the sandbox the process starts as root holding only CAP_SETUID/CAP_SETGID:
	// drop to the function's uid and gid (all threads, Go 1.16+) before serving.
	// KSS_RUN_GROUPS (gids separated by commas): the function's volumes (kss.volume), as
	// supplementary groups; with any, the umask becomes 0002 so what it creates there is
	// writable by the volume's group.
	runGroups := os.Getenv("KSS_RUN_GROUPS")
	os.Unsetenv("KSS_RUN_GROUPS")
	if runAs := os.Getenv("KSS_RUN_AS"); runAs != "" {
		os.Unsetenv("KSS_RUN_AS")
		var uid, gid int
		if _, err := fmt.Sscanf(runAs, "%d:%d", &uid, &gid); err != nil {
			kssError("KSS_RUN_AS must be uid:gid, got %q", runAs)
			kssExit(kssExitFailure)
		}
		groups := []int{}
		if runGroups != "" {
			for _, g := range strings.Split(runGroups, ",") {
				n, err := strconv.Atoi(g)
				if err != nil || n < 0 {
					kssError("KSS_RUN_GROUPS must be gids separated by commas, got %q", runGroups)
					kssExit(kssExitFailure)
				}
				groups = append(groups, n)
			}
		}
		if err := syscall.Setgroups(groups); err != nil {
			kssError("cannot take on the function's identity: %v", err)
			kssExit(kssExitFailure)
		}
		if err := syscall.Setgid(gid); err != nil {
			kssError("cannot take on the function's identity: %v", err)
			kssExit(kssExitFailure)
		}
		if err := syscall.Setuid(uid); err != nil {
			kssError("cannot take on the function's identity: %v", err)
			kssExit(kssExitFailure)
		}
		if os.Getuid() != uid || os.Getgid() != gid {
			kssError("still running as %d:%d", os.Getuid(), os.Getgid())
			kssExit(kssExitFailure)
		}
		if len(groups) > 0 {
			syscall.Umask(0o002)
		}
	}
	port := os.Getenv("PORT")
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		fmt.Fprintf(os.Stderr, "[kss-runtime] error: invalid environment: PORT must be a port number, got %q\n", port)
		kssExit(kssExitBadConfig)
	}
	host := os.Getenv("HOST")
	if host == "" {
		host = "0.0.0.0"
	}
	grace := 10 * time.Second
	if g := os.Getenv("KSS_GRACE_MS"); g != "" {
		ms, err := strconv.Atoi(g)
		if err != nil || ms < 0 {
			fmt.Fprintf(os.Stderr, "[kss-runtime] error: invalid environment: KSS_GRACE_MS must be a non-negative integer, got %q\n", g)
			kssExit(kssExitBadConfig)
		}
		grace = time.Duration(ms) * time.Millisecond
	}

	listener, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		kssError("cannot listen on %s:%s: %v", host, port, err)
		kssExit(kssExitFailure)
	}
	server := &http.Server{
		Handler: http.HandlerFunc(kssServe),
		// Longer than the gateway's pool keeps idle sockets, so the gateway always closes first.
		IdleTimeout:       75 * time.Second,
		ReadHeaderTimeout: 76 * time.Second,
	}
	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()

	stop := make(chan string, 4)
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		for s := range signals {
			if s == syscall.SIGTERM {
				stop <- "SIGTERM"
			} else {
				stop <- "SIGINT"
			}
		}
	}()
	if os.Getenv("KSS_PARENT_PIPE") == "1" {
		// The platform holds our stdin open for our whole life: end-of-file means it died.
		go func() {
			io.Copy(io.Discard, os.Stdin)
			stop <- "the platform went away"
		}()
	}
	// Tell the platform we listen without waiting for its next /ready probe (KSS_READY_FD, see lifecycle.ts).
	if fd, err := strconv.Atoi(os.Getenv("KSS_READY_FD")); err == nil && fd > 2 {
		if f := os.NewFile(uintptr(fd), "kss-ready"); f != nil {
			f.Write([]byte("ready\n"))
			f.Close()
		}
	}
	kssInfo("ready on http://%s (Go handler)", listener.Addr().String())

	var reason string
	select {
	case reason = <-stop:
	case err := <-served:
		kssError("server stopped: %v", err)
		kssExit(kssExitFailure)
	}
	atomic.StoreInt32(&kssDraining, 1)
	kssInfo("%s: draining %d in-flight request(s), up to %d ms", reason, atomic.LoadInt64(&kssMetrics.inFlight), grace.Milliseconds())
	go func() {
		// A second signal (a second Ctrl-C) exits at once.
		r := <-stop
		kssError("%s during shutdown: exiting now with %d request(s) in flight", r, atomic.LoadInt64(&kssMetrics.inFlight))
		kssExit(kssExitOK)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := server.Shutdown(ctx); err != nil {
		kssError("grace period of %d ms is over with %d request(s) in flight: exiting", grace.Milliseconds(), atomic.LoadInt64(&kssMetrics.inFlight))
	} else {
		kssInfo("drained: exiting")
	}
	kssExit(kssExitOK)
}
