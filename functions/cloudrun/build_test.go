package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestLeanCloudRunBinary: the Cloud Run build (the Makefile's tags for the
// example config) has no DynamoDB or Redis code, keeps Firestore and Bedrock
// (Cloud Run -> Bedrock), and is at most 30 MB stripped.
func TestLeanCloudRunBinary(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	out, err := exec.Command("make", "-s", "-C", filepath.Join("..", ".."), "print-tags", "BUNDLE_CONFIG=config.example.yaml").Output()
	if err != nil {
		t.Fatalf("make print-tags: %v", err)
	}
	tags := ""
	for _, l := range strings.Split(string(out), "\n") {
		if name, tg, ok := strings.Cut(l, " "); ok && name == "cloudrun" {
			tags = tg
		}
	}
	if !strings.Contains(tags, "nodynamodb") {
		t.Fatalf("cloudrun tags %q keep DynamoDB", tags)
	}
	list, err := exec.Command("go", "list", "-deps", "-tags", tags, ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	deps := strings.Fields(string(list))
	// SSM and Secrets Manager are called without their SDK clients, whose
	// generated schemas cost milliseconds of package init (core/awsconfigsource).
	for _, bad := range []string{"github.com/aws/aws-sdk-go-v2/service/dynamodb", "github.com/claude-gateway/claude-gateway/core/store/dynamodb",
		"github.com/claude-gateway/claude-gateway/core/store/redis",
		"github.com/aws/aws-sdk-go-v2/service/ssm", "github.com/aws/aws-sdk-go-v2/service/secretsmanager"} {
		if slices.Contains(deps, bad) {
			t.Errorf("the Cloud Run build links %s", bad)
		}
	}
	for _, want := range []string{"github.com/claude-gateway/claude-gateway/core/store/firestore",
		"github.com/claude-gateway/claude-gateway/core/providers/bedrock", "github.com/claude-gateway/claude-gateway/core/providers/vertex"} {
		if !slices.Contains(deps, want) {
			t.Errorf("the Cloud Run build lacks %s", want)
		}
	}
	if testing.Short() {
		return
	}
	bin := filepath.Join(t.TempDir(), "gateway")
	cmd := exec.Command("go", "build", "-tags", tags, "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cloudrun gateway: %.1f MB stripped (%s)", float64(fi.Size())/(1<<20), tags)
	if fi.Size() > 30<<20 {
		t.Errorf("gateway is %.1f MB stripped, want <= 30 MB", float64(fi.Size())/(1<<20))
	}
}

// TestCloudRunTagsKeepANamedStore: a bundled config that names Redis or
// DynamoDB gets it back in the Cloud Run build.
func TestCloudRunTagsKeepANamedStore(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	tests := []struct{ name, config, keeps string }{
		{"redis_host", "router_settings:\n  redis_host: 10.0.0.3\n", "noredis"},
		{"state_store redis", "general_settings:\n  state_store: redis\n", "noredis"},
		{"state_store dynamodb", "general_settings:\n  state_store: dynamodb\n", "nodynamodb"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(cfg, []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("make", "-s", "-C", filepath.Join("..", ".."), "print-tags", "BUNDLE_CONFIG="+cfg).Output()
			if err != nil {
				t.Fatalf("make print-tags: %v", err)
			}
			for _, l := range strings.Split(string(out), "\n") {
				if name, tags, ok := strings.Cut(l, " "); ok && name == "cloudrun" && slices.Contains(strings.Split(tags, ","), tc.keeps) {
					t.Errorf("cloudrun tags %q for a config naming it still leave it out", tags)
				}
			}
		})
	}
}
