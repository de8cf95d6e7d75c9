package main

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const module = "github.com/claude-gateway/claude-gateway/"

// makeOutput is what `make -s ARGS` prints, run at the repository root on
// the bundled example config unless ARGS say otherwise.
func makeOutput(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	args = append([]string{"-s", "-C", filepath.Join("..", ".."), "BUNDLE_CONFIG=config.example.yaml"}, args...)
	out, err := exec.Command("make", args...).Output()
	if err != nil {
		t.Fatalf("make %v: %v", args, err)
	}
	return string(out)
}

// cloudrunTags is the Cloud Run build's tags as `make print-tags ARGS` states them.
func cloudrunTags(t *testing.T, args ...string) string {
	t.Helper()
	out := makeOutput(t, append([]string{"print-tags"}, args...)...)
	for _, l := range strings.Split(out, "\n") {
		if tags, ok := strings.CutPrefix(l, "cloudrun "); ok {
			return tags
		}
	}
	t.Fatalf("make print-tags has no cloudrun line:\n%s", out)
	return ""
}

// deps is the import graph of this command built with tags: each package
// and the packages it imports.
func deps(t *testing.T, tags string) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-tags", tags, "-f", `{{.ImportPath}} {{join .Imports " "}}`, ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	g := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		g[f[0]] = f[1:]
	}
	return g
}

// grpcViaOTLPOnly is where gRPC may come from in a Cloud Run build: gRPC
// itself and the OTel OTLP/HTTP exporters, whose shared option code and
// collector protos reference its types (the OTLP export the Cloud Run
// binary keeps); no Google client transport.
func grpcViaOTLPOnly(pkg string) bool {
	for _, p := range []string{"google.golang.org/grpc", "go.opentelemetry.io/otel/exporters/otlp/", "go.opentelemetry.io/proto/otlp/collector/",
		"github.com/grpc-ecosystem/grpc-gateway/"} {
		if strings.HasPrefix(pkg, p) {
			return true
		}
	}
	return false
}

// TestLeanCloudRunBinary: the Cloud Run build (the Makefile's tags for the
// example config) has no DynamoDB, Redis or Firestore code, no Google
// gRPC transport (gRPC only through the OTLP exporters) and no pprof, keeps Bedrock
// (Cloud Run -> Bedrock), Vertex, the OTLP export and Prometheus, and is at
// most 30 MB stripped.
func TestLeanCloudRunBinary(t *testing.T) {
	tags := cloudrunTags(t)
	for _, want := range []string{"nodynamodb", "nofirestore", "noredis"} {
		if !slices.Contains(strings.Split(tags, ","), want) {
			t.Errorf("cloudrun tags %q lack %s", tags, want)
		}
	}
	g := deps(t, tags)
	// SSM and Secrets Manager are called without their SDK clients, whose
	// generated schemas cost milliseconds of package init (core/awsconfigsource).
	for _, bad := range []string{"github.com/aws/aws-sdk-go-v2/service/dynamodb", module + "core/store/dynamodb",
		module + "core/store/redis", "github.com/redis/go-redis/v9",
		"cloud.google.com/go/firestore", module + "core/store/firestore", "google.golang.org/api/transport/grpc",
		"google.golang.org/grpc/credentials/alts", "github.com/google/s2a-go",
		"github.com/aws/aws-sdk-go-v2/service/ssm", "github.com/aws/aws-sdk-go-v2/service/secretsmanager",
		"net/http/pprof"} {
		if _, ok := g[bad]; ok {
			t.Errorf("the Cloud Run build links %s", bad)
		}
	}
	for pkg, imports := range g {
		if slices.Contains(imports, "google.golang.org/grpc") && !grpcViaOTLPOnly(pkg) {
			t.Errorf("the Cloud Run build links gRPC through %s", pkg)
		}
	}
	for _, want := range []string{module + "core/providers/bedrock", module + "core/providers/vertex",
		"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp", "github.com/prometheus/client_golang/prometheus"} {
		if _, ok := g[want]; !ok {
			t.Errorf("the Cloud Run build lacks %s", want)
		}
	}
	if testing.Short() {
		return
	}
	fi, err := os.Stat(leanBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cloudrun gateway: %.1f MB stripped (%s)", float64(fi.Size())/(1<<20), tags)
	if fi.Size() > 30<<20 {
		t.Errorf("gateway is %.1f MB stripped, want <= 30 MB", float64(fi.Size())/(1<<20))
	}
}

// TestFirestoreCloudRunBinary: CLOUDRUN_STORE=firestore puts Firestore
// back in the Cloud Run build, and `make image` (the image infra/service.yaml
// runs with GATEWAY_STATE_STORE=firestore) is built with it.
func TestFirestoreCloudRunBinary(t *testing.T) {
	tags := cloudrunTags(t, "CLOUDRUN_STORE=firestore")
	if slices.Contains(strings.Split(tags, ","), "nofirestore") {
		t.Fatalf("cloudrun tags %q for CLOUDRUN_STORE=firestore leave Firestore out", tags)
	}
	if !strings.Contains(tags, "nodynamodb") {
		t.Errorf("cloudrun tags %q for CLOUDRUN_STORE=firestore keep DynamoDB", tags)
	}
	g := deps(t, tags)
	for _, want := range []string{"cloud.google.com/go/firestore", module + "core/store/firestore",
		module + "core/providers/bedrock", module + "core/providers/vertex"} {
		if _, ok := g[want]; !ok {
			t.Errorf("the Firestore Cloud Run build lacks %s", want)
		}
	}
	built := false
	for _, l := range strings.Split(makeOutput(t, "-n", "image"), "\n") {
		if strings.Contains(l, " build ") && strings.Contains(l, "./functions/cloudrun") {
			built = true
			if !strings.Contains(l, "-tags "+tags+" ") {
				t.Errorf("make image builds with %q, want -tags %s", l, tags)
			}
		}
	}
	if !built {
		t.Error("make -n image builds no ./functions/cloudrun")
	}
}

// TestCloudRunTagsKeepANamedStore: a bundled config that names Redis,
// DynamoDB or Firestore, or CLOUDRUN_STORE asking for it, gets it back in
// the Cloud Run build.
func TestCloudRunTagsKeepANamedStore(t *testing.T) {
	tests := []struct{ name, config, store, keeps string }{
		{"redis_host", "router_settings:\n  redis_host: 10.0.0.3\n", "", "noredis"},
		{"state_store redis", "general_settings:\n  state_store: redis\n", "", "noredis"},
		{"state_store dynamodb", "general_settings:\n  state_store: dynamodb\n", "", "nodynamodb"},
		{"state_store firestore", "general_settings:\n  state_store: firestore\n", "", "nofirestore"},
		{"CLOUDRUN_STORE redis", "model_list: []\n", "firestore,redis", "noredis"},
		{"CLOUDRUN_STORE dynamodb", "model_list: []\n", "dynamodb", "nodynamodb"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(cfg, []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			tags := cloudrunTags(t, "BUNDLE_CONFIG="+cfg, "CLOUDRUN_STORE="+tc.store)
			if slices.Contains(strings.Split(tags, ","), tc.keeps) {
				t.Errorf("cloudrun tags %q for a build naming it still leave it out", tags)
			}
			if !slices.Contains(strings.Split(tags, ","), "grpcnotrace") {
				t.Errorf("cloudrun tags %q lost grpcnotrace", tags)
			}
		})
	}
}

// TestLeanBinaryRefusesFirestore: the lean Cloud Run binary asked for
// Firestore exits at start, before listening, with an error naming the
// store, the build tag and how to build with it.
func TestLeanBinaryRefusesFirestore(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the lean binary")
	}
	port := freePort(t)
	cmd := exec.Command(leanBinary(t), "-config", writeConfig(t, streamConfig))
	cmd.Env = append(os.Environ(), "PORT="+port, "GATEWAY_STATE_STORE=firestore", "GOOGLE_CLOUD_PROJECT=p")
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("the lean binary kept running with GATEWAY_STATE_STORE=firestore:\n%s", out)
	}
	if err == nil {
		t.Fatalf("exit 0 with a store the build lacks:\n%s", out)
	}
	for _, want := range []string{`state_store "firestore" is not in this build`, "nofirestore", "CLOUDRUN_STORE=firestore"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

var releaseBinary testBinary

// leanBinary builds the Cloud Run release build (cloudrunTags, stripped) once per test run.
func leanBinary(t *testing.T) string {
	t.Helper()
	return releaseBinary.build(t, []string{"CGO_ENABLED=0"}, "-tags", cloudrunTags(t), "-trimpath", "-ldflags=-s -w")
}

// TestPprofOnlyWhereBuilt: GATEWAY_PPROF_ADDR serves the profiles from the
// full build (make build), and the lean build says it has none and serves.
func TestPprofOnlyWhereBuilt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the lean binary")
	}
	for _, tc := range []struct {
		name, bin string
		served    bool
	}{{"full", gatewayBinary(t), true}, {"lean", leanBinary(t), false}} {
		t.Run(tc.name, func(t *testing.T) {
			port, pprofAddr := freePort(t), "127.0.0.1:"+freePort(t)
			cmd := exec.Command(tc.bin, "-config", writeConfig(t, streamConfig))
			var logs bytes.Buffer
			cmd.Stdout, cmd.Stderr = &logs, &logs
			cmd.Env = append(os.Environ(), "PORT="+port, "GATEWAY_STATE_STORE=memory", "GATEWAY_PPROF_ADDR="+pprofAddr)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// The logs are read once the process has ended (its output copied).
			stopped := sync.OnceValue(func() string { cmd.Process.Kill(); cmd.Wait(); return logs.String() })
			t.Cleanup(func() { stopped() })
			if !answers("http://127.0.0.1:" + port) {
				t.Fatalf("gateway did not start: %s", stopped())
			}
			served := false
			for range 40 {
				if resp, err := http.Get("http://" + pprofAddr + "/debug/pprof/cmdline"); err == nil {
					resp.Body.Close()
					served = resp.StatusCode == 200
					break
				}
				time.Sleep(25 * time.Millisecond)
			}
			out := stopped()
			if served != tc.served {
				t.Errorf("pprof served = %v, want %v; logs:\n%s", served, tc.served, out)
			}
			if !tc.served && !strings.Contains(out, "nopprof") {
				t.Errorf("the lean build did not say it has no pprof:\n%s", out)
			}
		})
	}
}
