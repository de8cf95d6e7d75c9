package configsource

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const cfgWithEnvKey = `
model_list:
  - model_name: claude-sonnet
    litellm_params:
      model: simulated/claude-sonnet-4-5
general_settings:
  master_key: os.environ/GATEWAY_MASTER_KEY
`

const cfgLiteLLMKey = `
model_list:
  - model_name: claude-sonnet
    litellm_params:
      model: simulated/claude-sonnet-4-5
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
`

const cfgNoKey = `
model_list:
  - model_name: claude-haiku
    litellm_params:
      model: simulated/claude-haiku-4-5
`

const cfgLiteralKey = `
model_list:
  - model_name: claude-haiku
    litellm_params:
      model: simulated/claude-haiku-4-5
general_settings:
  master_key: sk-literal
`

// fakeStore is a Fetcher over two maps; it counts client creations.
type fakeStore struct {
	params  map[string]string
	secrets map[string]string
	calls   []string
}

func (f *fakeStore) Parameter(_ context.Context, name string) (string, error) {
	f.calls = append(f.calls, "ssm:"+name)
	v, ok := f.params[name]
	if !ok {
		return "", errors.New("ParameterNotFound")
	}
	return v, nil
}

func (f *fakeStore) Secret(_ context.Context, id string) (string, error) {
	f.calls = append(f.calls, "secret:"+id)
	v, ok := f.secrets[id]
	if !ok {
		return "", errors.New("ResourceNotFoundException")
	}
	return v, nil
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	envKeyFile := write("env-key.yaml", cfgWithEnvKey)
	noKeyFile := write("no-key.yaml", cfgNoKey)
	literalFile := write("literal.yaml", cfgLiteralKey)
	const secretARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:gw-key-AbCdEf"

	tests := []struct {
		name       string
		env        map[string]string
		path       string
		defPath    string
		store      *fakeStore
		wantErr    string
		wantKey    string
		wantSource string
		wantModel  string
		wantCalls  int
	}{
		{
			name:       "GATEWAY_CONFIG file, key from the plain environment",
			env:        map[string]string{"GATEWAY_CONFIG": envKeyFile, "GATEWAY_MASTER_KEY": "sk-env"},
			wantKey:    "sk-env",
			wantSource: "file " + envKeyFile,
			wantModel:  "claude-sonnet",
		},
		{
			name:       "explicit path wins over the environment",
			env:        map[string]string{"GATEWAY_CONFIG": envKeyFile, "GATEWAY_CONFIG_SSM_PARAMETER": "/x"},
			path:       noKeyFile,
			wantSource: "file " + noKeyFile,
			wantModel:  "claude-haiku",
		},
		{
			name:       "default path next to the binary when nothing is named",
			defPath:    noKeyFile,
			wantSource: "file " + noKeyFile,
			wantModel:  "claude-haiku",
		},
		{
			name:    "no config anywhere",
			wantErr: "no config: pass -config FILE or set GATEWAY_CONFIG",
		},
		{
			name:    "default path absent",
			defPath: filepath.Join(dir, "missing", "config.yaml"),
			wantErr: "or put a config.yaml at " + filepath.Join(dir, "missing", "config.yaml"),
		},
		{
			name:       "config from SSM, key from Secrets Manager into GATEWAY_MASTER_KEY",
			env:        map[string]string{"GATEWAY_CONFIG_SSM_PARAMETER": "/gw/config", "GATEWAY_MASTER_KEY_SECRET_ARN": secretARN},
			store:      &fakeStore{params: map[string]string{"/gw/config": cfgWithEnvKey}, secrets: map[string]string{secretARN: "sk-from-secret\n"}},
			wantKey:    "sk-from-secret",
			wantSource: "ssm parameter /gw/config",
			wantModel:  "claude-sonnet",
			wantCalls:  2,
		},
		{
			name:       "config from Secrets Manager, key from SSM into LITELLM_MASTER_KEY",
			env:        map[string]string{"GATEWAY_CONFIG_SECRET_ARN": "cfg-secret", "GATEWAY_MASTER_KEY_SSM_PARAMETER": "/gw/key"},
			store:      &fakeStore{params: map[string]string{"/gw/key": "sk-from-ssm"}, secrets: map[string]string{"cfg-secret": cfgLiteLLMKey}},
			wantKey:    "sk-from-ssm",
			wantSource: "secretsmanager secret cfg-secret",
			wantModel:  "claude-sonnet",
			wantCalls:  2,
		},
		{
			name:       "fetched key wins over the plain environment variable",
			env:        map[string]string{"GATEWAY_CONFIG": envKeyFile, "GATEWAY_MASTER_KEY": "sk-stale", "GATEWAY_MASTER_KEY_SSM_PARAMETER": "/gw/key"},
			store:      &fakeStore{params: map[string]string{"/gw/key": "sk-from-ssm"}},
			wantKey:    "sk-from-ssm",
			wantSource: "file " + envKeyFile,
			wantModel:  "claude-sonnet",
			wantCalls:  1,
		},
		{
			name:       "config without a master key gets the fetched one",
			env:        map[string]string{"GATEWAY_CONFIG": noKeyFile, "GATEWAY_MASTER_KEY_SECRET_ARN": secretARN},
			store:      &fakeStore{secrets: map[string]string{secretARN: "sk-from-secret"}},
			wantKey:    "sk-from-secret",
			wantSource: "file " + noKeyFile,
			wantModel:  "claude-haiku",
			wantCalls:  1,
		},
		{
			name:    "config with a different literal key is refused",
			env:     map[string]string{"GATEWAY_CONFIG": literalFile, "GATEWAY_MASTER_KEY_SECRET_ARN": secretARN},
			store:   &fakeStore{secrets: map[string]string{secretARN: "sk-from-secret"}},
			wantErr: "differs from the key",
		},
		{
			name:    "two config sources are ambiguous",
			env:     map[string]string{"GATEWAY_CONFIG": envKeyFile, "GATEWAY_CONFIG_SECRET_ARN": "x"},
			wantErr: "set only one of GATEWAY_CONFIG",
		},
		{
			name:    "two key sources are ambiguous",
			env:     map[string]string{"GATEWAY_MASTER_KEY_SECRET_ARN": "a", "GATEWAY_MASTER_KEY_SSM_PARAMETER": "b"},
			wantErr: "set only one of GATEWAY_MASTER_KEY_SECRET_ARN",
		},
		{
			name:    "missing parameter names the parameter",
			env:     map[string]string{"GATEWAY_CONFIG_SSM_PARAMETER": "/gw/missing"},
			store:   &fakeStore{},
			wantErr: "config from ssm parameter /gw/missing: ParameterNotFound",
		},
		{
			name:    "empty secret is refused",
			env:     map[string]string{"GATEWAY_CONFIG": envKeyFile, "GATEWAY_MASTER_KEY_SECRET_ARN": secretARN},
			store:   &fakeStore{secrets: map[string]string{secretARN: "  \n"}},
			wantErr: "is empty",
		},
		{
			name:    "a named secret without a secret-store client",
			env:     map[string]string{"GATEWAY_CONFIG_SECRET_ARN": "x"},
			wantErr: "cannot read SSM parameters or secrets",
		},
		{
			name:    "unset variable in the config is an error",
			env:     map[string]string{"GATEWAY_CONFIG": envKeyFile},
			wantErr: "GATEWAY_MASTER_KEY",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{
				LookupEnv:   func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok },
				Path:        tc.path,
				DefaultPath: tc.defPath,
			}
			newFetcher := 0
			if tc.store != nil {
				opts.NewFetcher = func(context.Context) (Fetcher, error) { newFetcher++; return tc.store, nil }
			}
			got, err := Load(context.Background(), opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "sk-from-secret") {
					t.Fatalf("error leaks the key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k := got.Config.MasterKey(); k != tc.wantKey {
				t.Errorf("master key = %q, want %q", k, tc.wantKey)
			}
			if got.Source != tc.wantSource {
				t.Errorf("source = %q, want %q", got.Source, tc.wantSource)
			}
			if m := got.Config.Deployments[0].ModelName; m != tc.wantModel {
				t.Errorf("model = %q, want %q", m, tc.wantModel)
			}
			if tc.store != nil && len(tc.store.calls) != tc.wantCalls {
				t.Errorf("store calls = %v, want %d", tc.store.calls, tc.wantCalls)
			}
			if newFetcher > 1 {
				t.Errorf("secret-store client built %d times, want at most once", newFetcher)
			}
			if tc.wantKey != "" && tc.store != nil {
				for _, v := range MasterKeyVars {
					if got.Getenv(v) != tc.wantKey {
						t.Errorf("Getenv(%s) = %q, want the fetched key", v, got.Getenv(v))
					}
				}
			}
		})
	}
}

func TestLoadDoesNotTouchTheProcessEnvironment(t *testing.T) {
	t.Setenv("GATEWAY_MASTER_KEY", "")
	os.Unsetenv("GATEWAY_MASTER_KEY")
	store := &fakeStore{params: map[string]string{"/cfg": cfgWithEnvKey, "/key": "sk-x"}}
	env := map[string]string{"GATEWAY_CONFIG_SSM_PARAMETER": "/cfg", "GATEWAY_MASTER_KEY_SSM_PARAMETER": "/key"}
	_, err := Load(context.Background(), Options{
		LookupEnv:  func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		NewFetcher: func(context.Context) (Fetcher, error) { return store, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, set := os.LookupEnv("GATEWAY_MASTER_KEY"); set {
		t.Fatal("Load wrote the key into the process environment")
	}
}

func TestEnvMasterKeyWhenConfigNamesNone(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/c.yaml"
	if err := os.WriteFile(path, []byte("model_list:\n - model_name: a\n   litellm_params: {model: simulated/x}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, env := range []map[string]string{{"GATEWAY_MASTER_KEY": "sk-env"}, {}} {
		loaded, err := Load(context.Background(), Options{Path: path, LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
		if err != nil {
			t.Fatal(err)
		}
		if got := loaded.Config.MasterKey(); got != env["GATEWAY_MASTER_KEY"] {
			t.Errorf("env %v: master key %q", env, got)
		}
	}
}

func TestSSOClientSecretFromSecretsManager(t *testing.T) {
	store := &fakeStore{
		params: map[string]string{"/cfg": "model_list:\n - model_name: a\n   litellm_params: {model: simulated/x}\n" +
			"general_settings:\n  sso:\n    public_url: https://gw.example.com\n    issuer: https://login.example.com\n" +
			"    client_id: gw\n    client_secret: os.environ/SSO_CLIENT_SECRET\n"},
		secrets: map[string]string{"arn:sso": "idp-secret\n"},
	}
	env := map[string]string{"GATEWAY_CONFIG_SSM_PARAMETER": "/cfg", "GATEWAY_SSO_CLIENT_SECRET_ARN": "arn:sso"}
	loaded, err := Load(context.Background(), Options{
		LookupEnv:  func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		NewFetcher: func(context.Context) (Fetcher, error) { return store, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := loaded.Config.General.SSO.ClientSecret; got != "idp-secret" {
		t.Errorf("client secret %q", got)
	}
	env["GATEWAY_SSO_CLIENT_SECRET_ARN"] = "arn:missing"
	if _, err := Load(context.Background(), Options{
		LookupEnv:  func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		NewFetcher: func(context.Context) (Fetcher, error) { return store, nil },
	}); err == nil || !strings.Contains(err.Error(), "sso client secret") {
		t.Errorf("missing secret: %v", err)
	}
}
