package gateway_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// quietCLI are the switches that keep the real CLI from phoning home during
// a test (non-essential traffic, telemetry); the auto-updater is always off.
var quietCLI = []string{"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "DISABLE_TELEMETRY=1"}

// cliDir makes a scratch directory with home/ and project/ for CLI runs:
// runs that share it share the CLI's state (--continue), others do not.
func cliDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	for _, sub := range []string{"home", "project"} {
		if err := os.MkdirAll(filepath.Join(d, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// runClaude runs the CLI binary once in dir/project with HOME=dir/home and
// no environment beyond PATH, TERM and env, so the developer's own settings
// never leak in. It returns the combined output.
func runClaude(t *testing.T, bin, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = filepath.Join(dir, "project")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Join(dir, "home"), "TERM=dumb", "DISABLE_AUTOUPDATER=1"}, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// claudeCLI runs one `claude -p prompt` in dir against gatewayURL with the
// master key and fails the test if the CLI does. --allowedTools is
// variadic, so it comes last.
func claudeCLI(t *testing.T, bin, dir, gatewayURL, prompt string, flags ...string) string {
	t.Helper()
	return claudeNativeCLI(t, bin, dir, []string{"ANTHROPIC_BASE_URL=" + gatewayURL}, prompt, flags...)
}

// claudeNativeCLI runs `claude -p prompt` with the master key and env, for
// example one of the cloud modes.
func claudeNativeCLI(t *testing.T, bin, dir string, env []string, prompt string, flags ...string) string {
	t.Helper()
	args := append(append([]string{"-p", prompt}, flags...), "--allowedTools", "Bash")
	out, err := runClaude(t, bin, dir, append(append([]string{"ANTHROPIC_AUTH_TOKEN=" + masterKey}, quietCLI...), env...), args...)
	if err != nil {
		t.Fatalf("claude %q: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(out)
}
