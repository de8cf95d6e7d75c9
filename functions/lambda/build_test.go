package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// makeTags is the Makefile's build tags for runtime ("lambda", "cloudrun"),
// as `make print-tags ARGS` states them for the bundled example config.
func makeTags(t *testing.T, runtime string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	args = append([]string{"-s", "-C", filepath.Join("..", ".."), "print-tags", "BUNDLE_CONFIG=config.example.yaml"}, args...)
	out, err := exec.Command("make", args...).Output()
	if err != nil {
		t.Fatalf("make %v: %v", args, err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if name, tags, ok := strings.Cut(l, " "); ok && name == runtime {
			return tags
		}
	}
	t.Fatalf("make print-tags has no %s line:\n%s", runtime, out)
	return ""
}

// bootstrapBudget is the stripped size the Lambda build must stay under.
const bootstrapBudget = 20 << 20

// TestLeanBootstrap: the Lambda build has no Firestore, Redis or gRPC code
// (the OTLP relay decodes with the OTLP data messages, not the collector's
// gRPC service packages), no SSM or Secrets Manager SDK client (their
// schemas cost milliseconds of init), no Prometheus client (EMF instead),
// keeps DynamoDB, Bedrock and Vertex
// (Lambda -> Vertex), and fits bootstrapBudget.
func TestLeanBootstrap(t *testing.T) {
	tags := makeTags(t, "lambda")
	if !strings.Contains(tags, "lambda.norpc") {
		t.Errorf("lambda tags %q lack lambda.norpc", tags)
	}
	out, err := exec.Command(goTool(), "list", "-deps", "-tags", tags, "-f", "{{.ImportPath}} {{join .Imports \" \"}}", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	var deps []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		deps = append(deps, f[0])
		if slices.Contains(f[1:], "google.golang.org/grpc") && !strings.HasPrefix(f[0], "google.golang.org/grpc") {
			t.Errorf("the Lambda build links gRPC through %s", f[0])
		}
	}
	for _, bad := range []string{"cloud.google.com/go/firestore", "github.com/redis/go-redis/v9", "html/template", "google.golang.org/grpc",
		"github.com/aws/aws-sdk-go-v2/service/ssm", "github.com/aws/aws-sdk-go-v2/service/secretsmanager",
		"github.com/prometheus/client_golang/prometheus",
		"github.com/claude-gateway/claude-gateway/core/store/firestore"} {
		if slices.Contains(deps, bad) {
			t.Errorf("the Lambda build links %s", bad)
		}
	}
	for _, want := range []string{"github.com/claude-gateway/claude-gateway/core/store/dynamodb",
		"github.com/claude-gateway/claude-gateway/core/providers/bedrock", "github.com/claude-gateway/claude-gateway/core/providers/vertex"} {
		if !slices.Contains(deps, want) {
			t.Errorf("the Lambda build lacks %s", want)
		}
	}
	if testing.Short() {
		return
	}
	bin := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command(goTool(), "build", "-tags", tags, "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bootstrap: %.1f MB stripped (%s)", float64(fi.Size())/(1<<20), tags)
	if fi.Size() > bootstrapBudget {
		t.Errorf("bootstrap is %.1f MB stripped, want <= %d MB", float64(fi.Size())/(1<<20), bootstrapBudget>>20)
	}
}

// TestMissingStoreStopsInit: the lean bootstrap asked for a store it was
// built without stops at init with an error naming the store, the tag and
// how to build with it.
func TestMissingStoreStopsInit(t *testing.T) {
	for _, store := range []string{"firestore", "redis"} {
		t.Run(store, func(t *testing.T) {
			cmd := exec.Command(bootstrapPath)
			cmd.Env = append(os.Environ(), "GATEWAY_CONFIG="+testConfig(t, "config.yaml"), "GATEWAY_MASTER_KEY=sk-test",
				"GATEWAY_STATE_STORE="+store, "AWS_LAMBDA_RUNTIME_API=127.0.0.1:1")
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("bootstrap started with state_store %s missing from the build:\n%s", store, out)
			}
			for _, want := range []string{`state_store \"` + store + `\" is not in this build`, "no" + store, "LAMBDA_STORE=" + store} {
				if !strings.Contains(string(out), want) {
					t.Errorf("init output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestLambdaStoreAsked: LAMBDA_STORE puts a store back in the Lambda build
// and leaves the others out.
func TestLambdaStoreAsked(t *testing.T) {
	tests := []struct{ store, keeps, leaves string }{
		{"firestore", "nofirestore", "noredis"},
		{"redis", "noredis", "nofirestore"},
	}
	for _, tc := range tests {
		t.Run(tc.store, func(t *testing.T) {
			tags := strings.Split(makeTags(t, "lambda", "LAMBDA_STORE="+tc.store), ",")
			if slices.Contains(tags, tc.keeps) || !slices.Contains(tags, tc.leaves) || !slices.Contains(tags, "lambda.norpc") {
				t.Errorf("lambda tags %v for LAMBDA_STORE=%s: want no %s, with %s and lambda.norpc", tags, tc.store, tc.keeps, tc.leaves)
			}
		})
	}
}
