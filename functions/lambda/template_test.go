package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/intrinsics"
	"github.com/tidwall/gjson"

	"github.com/claude-gateway/claude-gateway/core/configsource"
	"github.com/claude-gateway/claude-gateway/core/providers/vertex"
)

var templatePath = filepath.Join("..", "..", "template.yaml")

// openTemplate parses template.yaml with goformation, resolving parameters
// (overrides on top of the defaults) and conditions.
func openTemplate(t *testing.T, overrides map[string]any) *cloudformation.Template {
	t.Helper()
	tpl, err := goformation.OpenWithOptions(templatePath, &intrinsics.ProcessorOptions{ParameterOverrides: overrides, EvaluateConditions: true})
	if err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	return tpl
}

// rawTemplate is template.yaml as JSON with intrinsics left in place, to
// check what refers to what.
func rawTemplate(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	out, err := intrinsics.ProcessYAML(data, &intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

type statement struct {
	Sid      string
	Effect   string
	Action   any
	Resource any
}

func list(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			s, _ := e.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

// statements returns the function's inline policy statements that exist
// under the given parameters (Fn::If branches resolved to AWS::NoValue drop out).
func statements(t *testing.T, tpl *cloudformation.Template) []statement {
	t.Helper()
	fn, err := tpl.GetServerlessFunctionWithName("GatewayFunction")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(fn.Policies)
	var docs []struct{ Statement []*statement }
	if err := json.Unmarshal(raw, &docs); err != nil {
		t.Fatalf("policies: %v: %s", err, raw)
	}
	var out []statement
	for _, d := range docs {
		for _, s := range d.Statement {
			if s != nil {
				out = append(out, *s)
			}
		}
	}
	return out
}

func TestTemplateFunction(t *testing.T) {
	tpl := openTemplate(t, nil)
	fn, err := tpl.GetServerlessFunctionWithName("GatewayFunction")
	if err != nil {
		t.Fatal(err)
	}
	if fn.Runtime == nil || *fn.Runtime != "provided.al2023" {
		t.Errorf("Runtime = %v, want provided.al2023", fn.Runtime)
	}
	if !slices.Equal(fn.Architectures, []string{"arm64"}) {
		t.Errorf("Architectures = %v, want [arm64]", fn.Architectures)
	}
	if fn.Handler == nil || *fn.Handler != "bootstrap" {
		t.Errorf("Handler = %v", fn.Handler)
	}
	if fn.AWSCloudFormationMetadata["BuildMethod"] != "makefile" {
		t.Errorf("Metadata.BuildMethod = %v, want makefile", fn.AWSCloudFormationMetadata["BuildMethod"])
	}
	u := fn.FunctionUrlConfig
	if u == nil || u.AuthType != "NONE" || u.InvokeMode == nil || *u.InvokeMode != "RESPONSE_STREAM" {
		t.Fatalf("FunctionUrlConfig = %+v, want AuthType NONE and InvokeMode RESPONSE_STREAM", u)
	}
	// Long generations stream for minutes: Lambda's maximum, and enough memory for CPU.
	if fn.Timeout == nil || *fn.Timeout != 900 {
		t.Errorf("Timeout = %v, want 900", fn.Timeout)
	}
	if fn.MemorySize == nil || *fn.MemorySize < 512 {
		t.Errorf("MemorySize = %v, want at least 512", fn.MemorySize)
	}

	vars := fn.Environment.Variables
	if vars["GATEWAY_STATE_STORE"] != "dynamodb" || vars["GATEWAY_LAMBDA_MODE"] != modeFunctionURL {
		t.Errorf("environment = %v", vars)
	}
	// Every variable the template sets is one the code reads (same names as
	// functions/cloudrun), and every secret-store variable the code reads is set.
	known := []string{"GATEWAY_STATE_STORE", "GATEWAY_STATE_TABLE", "GATEWAY_LAMBDA_MODE", "LOG_LEVEL",
		configsource.EnvMasterKeySecretARN, configsource.EnvMasterKeySSMParameter,
		configsource.EnvConfigSSMParameter, configsource.EnvConfigSecretARN, configsource.MasterKeyVars[0],
		vertex.EnvCredentials}
	known = append(known, configsource.EnvSSOClientSecretARN)
	known = append(known, configsource.SSOVars...)
	for k := range vars {
		if !slices.Contains(known, k) {
			t.Errorf("template sets %s, which the gateway does not read", k)
		}
	}
	for _, k := range known[4:8] {
		if _, ok := vars[k]; !ok {
			t.Errorf("template does not pass %s", k)
		}
	}
	if vars[configsource.MasterKeyVars[0]] != "" {
		t.Error("the master key must never be a template value")
	}
	// sam local --env-vars only overrides variables the template declares.
	for _, f := range []string{"env.json", "env-apigw.json"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "events", f))
		if err != nil {
			t.Fatal(err)
		}
		var local map[string]map[string]string
		if err := json.Unmarshal(data, &local); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(local["GatewayFunction"]) == 0 {
			t.Errorf("%s sets nothing for GatewayFunction", f)
		}
		for k := range local["GatewayFunction"] {
			if _, ok := vars[k]; !ok {
				t.Errorf("events/%s sets %s, which template.yaml does not declare (sam local would ignore it)", f, k)
			}
		}
	}

	raw := rawTemplate(t)
	env := gjson.Get(raw, "Resources.GatewayFunction.Properties.Environment.Variables")
	if env.Get("GATEWAY_STATE_TABLE.Ref").String() != "StateTable" {
		t.Errorf("GATEWAY_STATE_TABLE = %s, want Ref StateTable", env.Get("GATEWAY_STATE_TABLE").Raw)
	}
	for _, p := range []string{"MasterKeySecretArn", "MasterKeySsmParameter", "ConfigSsmParameter", "ConfigSecretArn", "VertexCredentialConfig"} {
		if !strings.Contains(env.Get("@ugly").Raw, `{"Ref":"`+p+`"}`) {
			t.Errorf("parameter %s does not reach the function's environment", p)
		}
	}
	if d := gjson.Get(raw, "Parameters.MasterKeySecretArn.Default").String(); d != "" {
		t.Errorf("MasterKeySecretArn has a default %q", d)
	}
}

func TestTemplateStateTable(t *testing.T) {
	tpl := openTemplate(t, nil)
	tb, err := tpl.GetDynamoDBTableWithName("StateTable")
	if err != nil {
		t.Fatal(err)
	}
	if tb.BillingMode == nil || *tb.BillingMode != "PAY_PER_REQUEST" {
		t.Errorf("BillingMode = %v, want on-demand", tb.BillingMode)
	}
	ttl := tb.TimeToLiveSpecification
	if ttl == nil || !ttl.Enabled || ttl.AttributeName == nil || *ttl.AttributeName != "ttl" {
		t.Fatalf("TimeToLiveSpecification = %+v, want attribute ttl enabled", ttl)
	}
	keys := func(ks []dynamoKey) string {
		var s []string
		for _, k := range ks {
			s = append(s, k.AttributeName+":"+k.KeyType)
		}
		return strings.Join(s, ",")
	}
	raw, _ := json.Marshal(tb)
	var props struct {
		Properties struct {
			AttributeDefinitions   []struct{ AttributeName, AttributeType string }
			KeySchema              []dynamoKey
			GlobalSecondaryIndexes []struct {
				IndexName string
				KeySchema []dynamoKey
			}
		}
	}
	if err := json.Unmarshal(raw, &props); err != nil {
		t.Fatal(err)
	}
	p := props.Properties
	if got := keys(p.KeySchema); got != "pk:HASH,sk:RANGE" {
		t.Errorf("KeySchema = %s", got)
	}
	if len(p.GlobalSecondaryIndexes) != 1 || p.GlobalSecondaryIndexes[0].IndexName != "gsi1" ||
		keys(p.GlobalSecondaryIndexes[0].KeySchema) != "gsi1pk:HASH,gsi1sk:RANGE" {
		t.Errorf("GlobalSecondaryIndexes = %+v", p.GlobalSecondaryIndexes)
	}
	for _, a := range p.AttributeDefinitions {
		if a.AttributeType != "S" {
			t.Errorf("attribute %s is %s, want S", a.AttributeName, a.AttributeType)
		}
	}
}

type dynamoKey struct{ AttributeName, KeyType string }

func TestTemplateIAM(t *testing.T) {
	const secret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:claude-gateway/master-key-AbCdEf"
	tests := []struct {
		name      string
		overrides map[string]any
		// extra is the secret-store grant expected besides Bedrock and DynamoDB.
		extraAction, extraResource string
	}{
		{name: "defaults grant no secret access"},
		{name: "master key in Secrets Manager", overrides: map[string]any{"MasterKeySecretArn": secret},
			extraAction: "secretsmanager:GetSecretValue", extraResource: secret},
		{name: "master key in SSM", overrides: map[string]any{"MasterKeySsmParameter": "/claude-gateway/master-key"},
			extraAction: "ssm:GetParameter", extraResource: ":parameter/claude-gateway/master-key"},
		{name: "config in SSM", overrides: map[string]any{"ConfigSsmParameter": "/claude-gateway/config"},
			extraAction: "ssm:GetParameter", extraResource: ":parameter/claude-gateway/config"},
		{name: "config in Secrets Manager", overrides: map[string]any{"ConfigSecretArn": secret},
			extraAction: "secretsmanager:GetSecretValue", extraResource: secret},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sts := statements(t, openTemplate(t, tc.overrides))
			var bedrock, extra []statement
			for _, s := range sts {
				if s.Effect != "Allow" {
					t.Errorf("statement %s: Effect %s", s.Sid, s.Effect)
				}
				for _, a := range list(s.Action) {
					if a == "*" || strings.HasSuffix(a, ":*") {
						t.Errorf("statement %s grants %s", s.Sid, a)
					}
				}
				for _, r := range list(s.Resource) {
					if r == "*" {
						t.Errorf("statement %s applies to every resource", s.Sid)
					}
				}
				switch {
				case strings.HasPrefix(list(s.Action)[0], "bedrock:"):
					bedrock = append(bedrock, s)
				case strings.HasPrefix(list(s.Action)[0], "dynamodb:"):
				default:
					extra = append(extra, s)
				}
			}
			if len(bedrock) != 1 {
				t.Fatalf("want one Bedrock statement, got %d", len(bedrock))
			}
			acts := list(bedrock[0].Action)
			slices.Sort(acts)
			if want := []string{"bedrock:CountTokens", "bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"}; !slices.Equal(acts, want) {
				t.Errorf("Bedrock actions = %v, want %v", acts, want)
			}
			res := strings.Join(list(bedrock[0].Resource), " ")
			// Cross-region profiles need the profile and the regional model ARNs.
			for _, want := range []string{":foundation-model/", ":inference-profile/"} {
				if !strings.Contains(res, want) {
					t.Errorf("Bedrock resources %s lack %s", res, want)
				}
			}
			if tc.extraAction == "" {
				if len(extra) != 0 {
					t.Fatalf("unexpected grants: %+v", extra)
				}
				return
			}
			if len(extra) != 1 || list(extra[0].Action)[0] != tc.extraAction || len(list(extra[0].Resource)) != 1 ||
				!strings.HasSuffix(list(extra[0].Resource)[0], tc.extraResource) {
				t.Fatalf("secret-store grants = %+v, want %s on exactly %s", extra, tc.extraAction, tc.extraResource)
			}
		})
	}

	// DynamoDB access is limited to the table and its indexes.
	raw := rawTemplate(t)
	var ddb gjson.Result
	gjson.Get(raw, "Resources.GatewayFunction.Properties.Policies.0.Statement").ForEach(func(_, s gjson.Result) bool {
		if s.Get("Sid").String() == "GatewayStateTable" {
			ddb = s
		}
		return true
	})
	res := ddb.Get("Resource|@ugly").Raw
	if res != `[{"Fn::GetAtt":"StateTable.Arn"},{"Fn::Sub":"${StateTable.Arn}/index/*"}]` {
		t.Errorf("DynamoDB resources = %s, want the table and its indexes only", res)
	}
	if strings.Contains(ddb.Get("Action").Raw, "dynamodb:Scan") {
		t.Error("the gateway needs no scans")
	}
}

func TestTemplateOutputs(t *testing.T) {
	tpl := openTemplate(t, map[string]any{"MasterKeySecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:k-AbCdEf"})
	base, _ := tpl.Outputs["ClaudeCodeBaseUrl"].Value.(string)
	token, _ := tpl.Outputs["ClaudeCodeAuthToken"].Value.(string)
	if !strings.HasPrefix(base, "export ANTHROPIC_BASE_URL=https://") {
		t.Errorf("ClaudeCodeBaseUrl = %q", base)
	}
	if !strings.HasPrefix(token, "export ANTHROPIC_AUTH_TOKEN=") || !strings.Contains(token, "secretsmanager get-secret-value") {
		t.Errorf("ClaudeCodeAuthToken = %q", token)
	}
	// SAM names the function URL resource <function>Url.
	raw := gjson.Get(rawTemplate(t), "Outputs.ClaudeCodeBaseUrl.Value|@ugly").Raw
	if !strings.Contains(raw, `{"Fn::GetAtt":"GatewayFunctionUrl.FunctionUrl"}`) {
		t.Errorf("ClaudeCodeBaseUrl does not come from the function URL: %s", raw)
	}
}

// BuildMethod makefile runs `make build-GatewayFunction` with ARTIFACTS_DIR set.
func TestMakefileHasSAMTarget(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	target := regexp.MustCompile(`(?m)^build-GatewayFunction:.*\n((?:\t.*\n)+)`).FindSubmatch(data)
	if target == nil {
		t.Fatal("Makefile has no build-GatewayFunction target")
	}
	recipe := string(target[1])
	for _, want := range []string{"ARTIFACTS_DIR", "GOARCH=arm64", "lambda.norpc", "CGO_ENABLED=0", "bootstrap", "config.yaml"} {
		if !strings.Contains(recipe+string(data), want) {
			t.Errorf("build-GatewayFunction does not mention %s", want)
		}
	}
}
