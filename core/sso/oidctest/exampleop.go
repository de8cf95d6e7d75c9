package oidctest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// ExampleOP starts the zitadel/oidc example OpenID provider, a real one
// (OIDC_OP_BIN, built from the module proxy by scripts/oidc-provider.sh;
// make test sets it), on loopback with users (its users file's JSON) and
// the redirect URIs registered for its "web" client (secret "secret"), and
// returns its issuer. It skips the test when the binary is not there.
func ExampleOP(t testing.TB, users string, redirects ...string) string {
	t.Helper()
	bin := os.Getenv("OIDC_OP_BIN")
	if bin == "" {
		t.Skip("SKIP: OIDC_OP_BIN not set (scripts/oidc-provider.sh builds the zitadel/oidc example OP; make test sets it)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	file := filepath.Join(t.TempDir(), "users.json")
	if err := os.WriteFile(file, []byte(users), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "PORT="+port, "REDIRECT_URI="+strings.Join(redirects, ","), "USERS_FILE="+file)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	issuer := "http://localhost:" + port + "/"
	for i := 0; ; i++ {
		if resp, err := http.Get(issuer + ".well-known/openid-configuration"); err == nil {
			resp.Body.Close()
			return issuer
		}
		if i == 200 {
			t.Fatalf("OP did not start: %s", logs)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// syncBuffer collects a child process's output, written from two pipes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
