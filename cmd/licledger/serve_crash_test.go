package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/licledger/licledger/adapters/httpclient"
)

// crashChildEnv makes TestServeCrashChild run `serve` instead of skipping.
const crashChildEnv = "LICLEDGER_TEST_SERVE_CHILD"

// TestServeCrashChild is not a test on its own: TestServeCrash re-executes
// the test binary with it to run a real serve process it can SIGKILL. It
// serves with the flags in LICLEDGER_TEST_SERVE_ARGS and writes the bound
// address to DATA/addr.
func TestServeCrashChild(t *testing.T) {
	if os.Getenv(crashChildEnv) != "1" {
		t.Skip("run by TestServeCrash")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	m, err := mainFromFlags(strings.Fields(os.Getenv("LICLEDGER_TEST_SERVE_ARGS")), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(m.Config.DataDir, "addr.tmp"), []byte(m.Addr()), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Rename(filepath.Join(m.Config.DataDir, "addr.tmp"), filepath.Join(m.Config.DataDir, "addr"))
	<-ctx.Done() // SIGTERM: a graceful stop, like serve's; or SIGKILL before
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

type child struct {
	cmd  *exec.Cmd
	base string
}

// startChild runs serve in a child process on dir and waits for its
// address.
func startChild(t *testing.T, dir string) *child {
	t.Helper()
	os.Remove(filepath.Join(dir, "addr"))
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"=1",
		"LICLEDGER_TEST_SERVE_ARGS=--data "+dir+" --http 127.0.0.1:0 --log-level warn --insecure-json-licenses")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(filepath.Join(dir, "addr")); err == nil {
			return &child{cmd: cmd, base: "http://" + string(b)}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the serve child did not start within 30s")
	return nil
}

// Nothing lost: a serve process is SIGKILLed in the middle of a burst of
// commands. After a restart on the same data directory every command that
// got a 2xx is in the log and in the projections, retrying any command
// with its Idempotency-Key appends nothing new, the projections catch up,
// and verify is clean.
func TestServeCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	c := startChild(t, dir)
	api := newClient(t, c.base, "")
	if _, err := api.RegisterPlatform(ctx, httpclient.RegisterRequest{ID: "acme", Nodes: []string{"mn-1"}, RequestCode: "RC-1"}); err != nil {
		t.Fatal(err)
	}

	type acked struct {
		key    string
		events []string
	}
	var (
		mu    sync.Mutex
		oks   []acked
		wg    sync.WaitGroup
		sent  int
		start = make(chan struct{})
	)
	client, err := httpclient.New(c.base, httpclient.WithHTTPClient(&http.Client{Timeout: 10 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	const workers = 6
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := 0; ; i++ {
				key := fmt.Sprintf("w%d-%d", w, i)
				mu.Lock()
				sent++
				mu.Unlock()
				res, err := client.UploadLicense(ctx, "acme", crashLicense(key), "application/json", httpclient.WithIdempotencyKey(key))
				if err != nil && httpclient.Status(err) == 0 {
					return // the server is gone
				}
				if err == nil {
					a := acked{key: key}
					for _, e := range res.Events {
						a.events = append(a.events, e.ID)
					}
					mu.Lock()
					oks = append(oks, a)
					mu.Unlock()
				}
			}
		}()
	}
	close(start)
	// Let the burst run, then kill without warning.
	for {
		mu.Lock()
		n := len(oks)
		mu.Unlock()
		if n >= 40 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
	wg.Wait()
	t.Logf("%d commands sent, %d acknowledged before SIGKILL", sent, len(oks))

	c2 := startChild(t, dir)
	api2 := newClient(t, c2.base, "")
	waitReady(t, api2)
	// Raw from here on where the client has no method: events by id, the
	// platform's view, verify.
	for _, a := range oks {
		if len(a.events) != 1 {
			t.Fatalf("command %s acknowledged with %d events", a.key, len(a.events))
		}
		if r := rawHTTP(t, "GET", c2.base+"/v1/events/"+a.events[0], "", nil); r.status != 200 {
			t.Errorf("acknowledged command %s (event %s) lost: %d %s", a.key, a.events[0], r.status, r.body)
		}
	}
	// Retrying acknowledged commands appends nothing and answers the same.
	var before struct{ Version uint64 }
	decode(t, rawHTTP(t, "GET", c2.base+"/v1/platforms/acme", "", nil).want(t, 200), &before)
	for _, a := range oks[:min(len(oks), 10)] {
		res, err := api2.UploadLicense(ctx, "acme", crashLicense(a.key), "application/json", httpclient.WithIdempotencyKey(a.key))
		if err != nil || len(res.Events) != 1 || res.Events[0].ID != a.events[0] {
			t.Errorf("retry of %s: %v %+v, want the original event %s", a.key, err, res, a.events[0])
		}
	}
	var after struct{ Version uint64 }
	decode(t, rawHTTP(t, "GET", c2.base+"/v1/platforms/acme", "", nil).want(t, 200), &after)
	if after.Version != before.Version {
		t.Errorf("retries moved the platform from version %d to %d", before.Version, after.Version)
	}
	var rep struct {
		Clean bool
		Seq   uint64
	}
	decode(t, rawHTTP(t, "GET", c2.base+"/v1/projections/verify", "", nil).want(t, 200), &rep)
	if !rep.Clean || rep.Seq < uint64(len(oks))+1 {
		t.Errorf("verify after the crash: %+v, want clean at >= %d", rep, len(oks)+1)
	}
	// A graceful stop this time: drain, checkpoint, close, exit 0.
	c2.cmd.Process.Signal(syscall.SIGTERM)
	if err := c2.cmd.Wait(); err != nil {
		t.Errorf("serve after SIGTERM: %v, want a clean exit", err)
	}
}

// crashLicense is the body of the burst's command keyed key.
func crashLicense(key string) []byte {
	return fmt.Appendf(nil, `{"id":"L-%s","kind":"plus","module":"tenant","issued_at":"2026-01-01T00:00:00Z"}`, key)
}
