// Package infra_test checks the deployment files against what the code
// expects: the Dockerfile against the image layout (infra/image), the Cloud
// Run service against the environment the gateway reads, and the deploy
// scripts' syntax and essential flags.
package infra_test

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/claude-gateway/claude-gateway/core/configsource"
	"github.com/claude-gateway/claude-gateway/infra/image"
)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDockerfile(t *testing.T) {
	root := read(t, "../Dockerfile")
	// gcloud run deploy --source . reads the root file; infra/Dockerfile is the same file.
	if infra := read(t, "Dockerfile"); infra != root {
		t.Fatal("infra/Dockerfile differs from the root Dockerfile")
	}
	var froms []string
	for _, line := range strings.Split(root, "\n") {
		if strings.HasPrefix(line, "FROM ") {
			froms = append(froms, line)
		}
	}
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build, got %v", froms)
	}
	if last := froms[len(froms)-1]; !strings.Contains(last, "distroless/static") && !strings.Contains(last, "scratch") {
		t.Errorf("final stage %q is not distroless/static or scratch", last)
	}
	checks := []struct{ what, re string }{
		{"a static build", `CGO_ENABLED=0`},
		{"the Cloud Run entry point", `go build .*\./functions/cloudrun`},
		{"the non-root user of the image", `(?m)^USER 65532:65532$`},
		{"the entry point infra/image uses", `(?m)^ENTRYPOINT \["` + regexp.QuoteMeta(image.Entrypoint) + `"\]$`},
		{"config.yaml beside the binary", regexp.QuoteMeta(image.ConfigPath)},
	}
	for _, c := range checks {
		if !regexp.MustCompile(c.re).MatchString(root) {
			t.Errorf("Dockerfile lacks %s (%s)", c.what, c.re)
		}
	}
}

// TestDockerfileBuildsWithFirestore: the image gets the Makefile's Cloud Run
// tags with the store the service runs on (service.yaml and
// deploy-cloudrun.sh set GATEWAY_STATE_STORE=firestore): the Dockerfile's
// tag command, run as its RUN line runs it, keeps Firestore, and with the
// build argument emptied gives the lean build.
func TestDockerfileBuildsWithFirestore(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	df := read(t, "../Dockerfile")
	arg := regexp.MustCompile(`(?m)^ARG CLOUDRUN_STORE=(\S*)$`).FindStringSubmatch(df)
	if arg == nil {
		t.Fatal("Dockerfile has no ARG CLOUDRUN_STORE=...")
	}
	if !slices.Contains(strings.Split(arg[1], ","), "firestore") {
		t.Errorf("Dockerfile's CLOUDRUN_STORE %q lacks firestore, the service's state store", arg[1])
	}
	cmd := regexp.MustCompile(`tags=\$\((make [^)]*)\)`).FindStringSubmatch(df)
	if cmd == nil || !regexp.MustCompile(`go build -tags "\$tags" .*\./functions/cloudrun`).MatchString(df) {
		t.Fatal(`Dockerfile does not build ./functions/cloudrun with -tags "$tags" from make print-tags`)
	}
	tags := func(store string) []string {
		sh := exec.Command("sh", "-c", cmd[1])
		sh.Dir = ".."
		sh.Env = append(os.Environ(), "CLOUDRUN_STORE="+store)
		out, err := sh.Output()
		if err != nil {
			t.Fatalf("%s: %v", cmd[1], err)
		}
		return strings.Split(strings.TrimSpace(string(out)), ",")
	}
	if got := tags(arg[1]); slices.Contains(got, "nofirestore") || !slices.Contains(got, "nodynamodb") {
		t.Errorf("the image's tags %v: want Firestore in, DynamoDB out", got)
	}
	if got := tags(""); !slices.Contains(got, "nofirestore") {
		t.Errorf("the image's tags with CLOUDRUN_STORE=\"\" %v keep Firestore", got)
	}
	svc := read(t, "service.yaml")
	if !regexp.MustCompile(`name: GATEWAY_STATE_STORE\s+value: firestore`).MatchString(svc) {
		t.Error("service.yaml no longer runs on Firestore: the Dockerfile's CLOUDRUN_STORE should follow it")
	}
}

type knService struct {
	Spec struct {
		Template struct {
			Metadata struct {
				Annotations map[string]string
			}
			Spec struct {
				ServiceAccountName   string `yaml:"serviceAccountName"`
				TimeoutSeconds       int    `yaml:"timeoutSeconds"`
				ContainerConcurrency int    `yaml:"containerConcurrency"`
				Containers           []struct {
					Image string
					Env   []struct {
						Name      string
						Value     *string
						ValueFrom *struct {
							SecretKeyRef *struct{ Name, Key string } `yaml:"secretKeyRef"`
						} `yaml:"valueFrom"`
					}
					Ports []struct {
						ContainerPort int `yaml:"containerPort"`
					}
				}
			}
		}
	}
}

// The environment names the gateway reads; Cloud Run and Lambda use the same.
var knownEnv = []string{
	"GATEWAY_STATE_STORE", "GATEWAY_STATE_TABLE", "GATEWAY_STATE_COLLECTION", "GOOGLE_CLOUD_PROJECT", "LOG_LEVEL",
	configsource.EnvConfig, configsource.EnvConfigSSMParameter, configsource.EnvConfigSecretARN,
	configsource.EnvMasterKeySecretARN, configsource.EnvMasterKeySSMParameter, configsource.MasterKeyVars[0],
}

func TestCloudRunService(t *testing.T) {
	var svc knService
	if err := yaml.Unmarshal([]byte(read(t, "service.yaml")), &svc); err != nil {
		t.Fatal(err)
	}
	tpl := svc.Spec.Template
	if tpl.Spec.TimeoutSeconds != 3600 {
		t.Errorf("timeoutSeconds = %d, want 3600 (long streams)", tpl.Spec.TimeoutSeconds)
	}
	if tpl.Spec.ContainerConcurrency < 1 {
		t.Errorf("containerConcurrency = %d", tpl.Spec.ContainerConcurrency)
	}
	for _, a := range []string{"autoscaling.knative.dev/minScale", "autoscaling.knative.dev/maxScale"} {
		if tpl.Metadata.Annotations[a] == "" {
			t.Errorf("annotation %s missing", a)
		}
	}
	if !strings.HasSuffix(tpl.Spec.ServiceAccountName, ".iam.gserviceaccount.com") {
		t.Errorf("serviceAccountName = %q", tpl.Spec.ServiceAccountName)
	}
	if len(tpl.Spec.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(tpl.Spec.Containers))
	}
	c := tpl.Spec.Containers[0]
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("ports = %+v", c.Ports)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		if !slices.Contains(knownEnv, e.Name) {
			t.Errorf("service sets %s, which the gateway does not read", e.Name)
		}
		switch {
		case e.Name == configsource.MasterKeyVars[0]:
			if e.Value != nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				t.Error("the master key must come from Secret Manager, not a literal")
			}
		case e.Value != nil:
			env[e.Name] = *e.Value
		}
	}
	if env["GATEWAY_STATE_STORE"] != "firestore" {
		t.Errorf("GATEWAY_STATE_STORE = %q, want firestore", env["GATEWAY_STATE_STORE"])
	}
	if !strings.Contains(read(t, "service.yaml"), "roles/aiplatform.user") || !strings.Contains(read(t, "service.yaml"), "roles/datastore.user") {
		t.Error("service.yaml should name the roles its service account needs")
	}
}

func TestDeployScripts(t *testing.T) {
	tests := []struct {
		script string
		want   []string
	}{
		{"../scripts/deploy-cloudrun.sh", []string{"run deploy", "--source .", "--timeout 3600", "--set-secrets", "roles/aiplatform.user",
			"roles/datastore.user", "GATEWAY_STATE_STORE=firestore", "export ANTHROPIC_BASE_URL=", "export ANTHROPIC_AUTH_TOKEN="}},
		{"../scripts/deploy-aws.sh", []string{"sam build", "sam deploy --guided", "MasterKeySecretArn=", "ClaudeCodeBaseUrl", "ClaudeCodeAuthToken"}},
	}
	for _, tc := range tests {
		t.Run(tc.script, func(t *testing.T) {
			if out, err := exec.Command("bash", "-n", tc.script).CombinedOutput(); err != nil {
				t.Fatalf("bash -n: %v\n%s", err, out)
			}
			text := read(t, tc.script)
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("%s does not contain %q", tc.script, w)
				}
			}
		})
	}
}
