package telemetry_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/claude-gateway/claude-gateway/core/logging"
	"github.com/claude-gateway/claude-gateway/core/telemetry"
)

// Each request leaves one EMF line that satisfies the EMF JSON schema
// (testdata/emf.schema.json, from the CloudWatch EMF specification) and
// the rules the schema cannot say: every dimension and metric it names is
// a member of the line, dimensions as strings and metrics as numbers.
func TestEMFLines(t *testing.T) {
	f, err := os.Open("testdata/emf.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	comp := jsonschema.NewCompiler()
	if err := comp.AddResource("emf.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	schema, err := comp.Compile("emf.schema.json")
	if err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	tel, err := telemetry.New(context.Background(), telemetry.Options{EMF: &out})
	if err != nil {
		t.Fatal(err)
	}
	ok, failed := call(), call()
	ok.KeyAlias, ok.TeamID = "bob-laptop", "platform"
	failed.Status, failed.ErrorType, failed.DeploymentID, failed.ModelGroup = 429, "rate_limit_error", "", "with \"quotes\""
	// On Lambda the request's context carries the invocation id.
	tel.Finish(logging.WithRequestID(context.Background(), "8f5a0c1e-7b1e-4f0c-9d3a-2f1e0b9c8a7d"), ok)
	tel.Finish(context.Background(), failed)

	sc := bufio.NewScanner(&out)
	n := 0
	for sc.Scan() {
		n++
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(sc.Bytes()))
		if err != nil {
			t.Fatalf("line %d is not JSON: %v: %s", n, err, sc.Bytes())
		}
		if err := schema.Validate(inst); err != nil {
			t.Errorf("line %d: %v", n, err)
		}
		var line map[string]any
		_ = json.Unmarshal(sc.Bytes(), &line)
		dir := line["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)
		for _, set := range dir["Dimensions"].([]any) {
			for _, d := range set.([]any) {
				if _, ok := line[d.(string)].(string); !ok {
					t.Errorf("line %d: dimension %s is not a string member", n, d)
				}
			}
		}
		for _, m := range dir["Metrics"].([]any) {
			name := m.(map[string]any)["Name"].(string)
			if _, ok := line[name].(float64); !ok && !(name == "TimeToFirstToken" && n == 2) {
				t.Errorf("line %d: metric %s is not a number member", n, name)
			}
		}
		if _, has := line["requestId"]; n == 2 && has {
			t.Errorf("line without a request id in its context has one: %s", sc.Bytes())
		}
		if n == 2 && (line["Errors"] != 1.0 || line["StatusClass"] != "4xx" || line["Deployment"] != "none" || line["error_type"] != "rate_limit_error") {
			t.Errorf("failed request's line: %s", sc.Bytes())
		}
		if n == 1 && (line["OutputTokens"] != 20.0 || line["Duration"] != 1000.0 || line["level"] != "INFO" ||
			line["requestId"] != "8f5a0c1e-7b1e-4f0c-9d3a-2f1e0b9c8a7d" || line["key_alias"] != "bob-laptop" || line["team_id"] != "platform") {
			t.Errorf("served request's line: %s", sc.Bytes())
		}
	}
	if n != 2 {
		t.Fatalf("%d EMF lines, want 2", n)
	}
}
