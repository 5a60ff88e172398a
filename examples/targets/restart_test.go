package targets_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// service is one of the demo's binaries running as a process of its own,
// with the flags the experiments give it (no -db) and TMPDIR set to tmp.
type service struct {
	t    *testing.T
	name string
	args []string
	tmp  string
	url  string
	cmd  *exec.Cmd
}

func newService(t *testing.T, name, tmp, addr string, args ...string) *service {
	return &service{t: t, name: name, tmp: tmp, url: "http://" + addr, args: append([]string{"-listen", addr}, args...)}
}

// start runs the binary and waits until /health answers.
func (s *service) start() {
	s.t.Helper()
	s.cmd = exec.Command(filepath.Join(binaries(s.t), s.name), s.args...)
	s.cmd.Env = append(os.Environ(), "TMPDIR="+s.tmp)
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	cmd := s.cmd
	s.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(s.url + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s at %s not healthy after 10s: %v", s.name, s.url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM, as a restart does, and waits for the exit.
func (s *service) stop() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	s.cmd.Wait()
}

// do sends one request with an optional idempotency key and decodes a JSON
// answer into v.
func do(t *testing.T, method, url, key, body string, v any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && json.Unmarshal(b, v) != nil {
		t.Logf("%s %s = %d %s", method, url, resp.StatusCode, b)
	}
	return resp.StatusCode
}

type charge struct {
	ID    int64  `json:"id"`
	Order string `json:"order"`
}

// Payment is restarted between a charge and its replay, as a shop replays
// a charge whose answer it never got: the replay must find the first
// charge, not make a second one that the charges list, and the shop's
// audit, would show as the only one.
func TestPaymentRestartKeepsCharges(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the payment binary")
	}
	ports := freePorts(t, 1)
	pay := newService(t, "payment", t.TempDir(), "127.0.0.1:"+ports[0])
	pay.start()
	var first, second charge
	do(t, http.MethodPost, pay.url+"/charges", "key-a", `{"order":"ord_a","amount":1999}`, &first)
	if code := do(t, http.MethodPost, pay.url+"/charges", "key-b", `{"order":"ord_b","amount":1999}`, &second); code != http.StatusCreated {
		t.Fatalf("POST /charges = %d; want 201", code)
	}
	pay.stop()
	pay.start()
	var list struct{ Charges []charge }
	do(t, http.MethodGet, pay.url+"/charges", "", "", &list)
	if len(list.Charges) != 2 {
		t.Errorf("after a restart payment lists %d charges; want the 2 it made", len(list.Charges))
	}
	var replay charge
	do(t, http.MethodPost, pay.url+"/charges", "key-b", `{"order":"ord_b","amount":1999}`, &replay)
	if replay.ID != second.ID {
		t.Errorf("key-b replayed after a restart got charge %d; want the first charge %d", replay.ID, second.ID)
	}
	do(t, http.MethodGet, pay.url+"/charges?order=ord_b", "", "", &list)
	if len(list.Charges) != 1 {
		t.Errorf("order ord_b has %d charges after the restart and the replay; want 1", len(list.Charges))
	}
}
