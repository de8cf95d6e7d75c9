// Package configsource finds the gateway's config and master key from the
// environment, the same way in every entry point (functions/lambda and
// functions/cloudrun), so one set of variables means one thing everywhere.
//
// The config comes from exactly one of:
//
//	-config FILE / GATEWAY_CONFIG       a file path
//	GATEWAY_CONFIG_SSM_PARAMETER        an SSM parameter holding the YAML (SecureString allowed)
//	GATEWAY_CONFIG_SECRET_ARN           a Secrets Manager secret holding the YAML
//	(none of them)                      Options.DefaultPath: config.yaml beside the binary
//
// The master key may come from a secret store instead of the environment:
//
//	GATEWAY_MASTER_KEY_SECRET_ARN       a Secrets Manager secret whose string is the key
//	GATEWAY_MASTER_KEY_SSM_PARAMETER    an SSM (SecureString) parameter whose value is the key
//
// The fetched key is offered to the config as the environment variables
// GATEWAY_MASTER_KEY and LITELLM_MASTER_KEY (so both `master_key:
// os.environ/GATEWAY_MASTER_KEY` and LiteLLM's usual `os.environ/LITELLM_MASTER_KEY`
// pick it up) without touching the process environment; a config that names
// no master key at all gets it as its key. A config whose master key is a
// different value is refused: two sources for one secret is a mistake.
//
// The SSO client secret (general_settings.sso.client_secret) likewise:
//
//	GATEWAY_SSO_CLIENT_SECRET_ARN       a Secrets Manager secret, offered as SSO_CLIENT_SECRET
package configsource

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/claude-gateway/claude-gateway/core/config"
)

// Environment variables read by Load.
const (
	EnvConfig                = "GATEWAY_CONFIG"
	EnvConfigSSMParameter    = "GATEWAY_CONFIG_SSM_PARAMETER"
	EnvConfigSecretARN       = "GATEWAY_CONFIG_SECRET_ARN"
	EnvMasterKeySecretARN    = "GATEWAY_MASTER_KEY_SECRET_ARN"
	EnvMasterKeySSMParameter = "GATEWAY_MASTER_KEY_SSM_PARAMETER"
	EnvSSOClientSecretARN    = "GATEWAY_SSO_CLIENT_SECRET_ARN"
)

// SSOClientSecretVar is the variable a fetched SSO client secret is offered
// under (client_secret: os.environ/SSO_CLIENT_SECRET).
const SSOClientSecretVar = "SSO_CLIENT_SECRET"

// SSOVars are the variables the deploy templates (template.yaml,
// scripts/deploy-cloudrun.sh) set for the README's sso block, which reads
// them as os.environ/SSO_PUBLIC_URL, os.environ/SSO_ISSUER and so on.
var SSOVars = []string{"SSO_PUBLIC_URL", "SSO_ISSUER", "SSO_CLIENT_ID", SSOClientSecretVar}

// MasterKeyVars are the variable names a fetched master key is offered under.
var MasterKeyVars = []string{"GATEWAY_MASTER_KEY", "LITELLM_MASTER_KEY"}

// Fetcher reads values from a secret store. core/awsconfigsource implements
// it with SSM Parameter Store and Secrets Manager.
type Fetcher interface {
	// Parameter returns an SSM parameter's value, decrypted.
	Parameter(ctx context.Context, name string) (string, error)
	// Secret returns a Secrets Manager secret's string value.
	Secret(ctx context.Context, id string) (string, error)
}

// Options tune Load.
type Options struct {
	// LookupEnv reads the environment (nil: os.LookupEnv).
	LookupEnv func(string) (string, bool)
	// Path is an explicit config path (a -config flag); it wins over the
	// environment.
	Path string
	// DefaultPath is used when nothing names a config ("" = a config is required).
	DefaultPath string
	// NewFetcher builds the secret-store client. It is called only when a
	// variable names a parameter or secret, so file-only starts stay free of
	// SDK set-up. Nil makes such variables an error.
	NewFetcher func(ctx context.Context) (Fetcher, error)
}

// Loaded is the outcome of Load.
type Loaded struct {
	Config *config.Config
	// Source says where the config came from ("file /var/task/config.yaml",
	// "ssm parameter /gw/config", ...), for the start-up log. Never a secret.
	Source string
	// MasterKeySource says where the master key came from, if not the config
	// itself ("" when the config's own value was used).
	MasterKeySource string
	// LookupEnv and Getenv read the environment with the fetched master key
	// overlaid; hand Getenv to gateway.Build.
	LookupEnv func(string) (string, bool)
	Getenv    func(string) string
}

// Load resolves the config and master key as the package comment describes.
func Load(ctx context.Context, opts Options) (*Loaded, error) {
	lookup := opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	get := func(k string) string { v, _ := lookup(k); return strings.TrimSpace(v) }

	var fetcher Fetcher
	fetch := func() (Fetcher, error) {
		if fetcher != nil {
			return fetcher, nil
		}
		if opts.NewFetcher == nil {
			return nil, errors.New("this build cannot read SSM parameters or secrets")
		}
		f, err := opts.NewFetcher(ctx)
		if err != nil {
			return nil, fmt.Errorf("secret store client: %w", err)
		}
		fetcher = f
		return f, nil
	}

	out := &Loaded{}
	overlay := map[string]string{}
	if err := loadMasterKey(ctx, get, fetch, overlay, out); err != nil {
		return nil, err
	}
	if arn := get(EnvSSOClientSecretARN); arn != "" {
		f, err := fetch()
		if err != nil {
			return nil, fmt.Errorf("sso client secret: %w", err)
		}
		v, err := f.Secret(ctx, arn)
		if err != nil {
			return nil, fmt.Errorf("sso client secret from secretsmanager secret %s: %w", arn, err)
		}
		overlay[SSOClientSecretVar] = strings.TrimSpace(v)
	}
	out.LookupEnv = func(k string) (string, bool) {
		if v, ok := overlay[k]; ok {
			return v, true
		}
		return lookup(k)
	}
	out.Getenv = func(k string) string { v, _ := out.LookupEnv(k); return v }

	data, source, err := readConfig(ctx, opts, get, fetch)
	if err != nil {
		return nil, err
	}
	out.Source = source
	cfg, err := config.Parse(data, out.LookupEnv)
	if err != nil {
		return nil, fmt.Errorf("config (%s): %w", source, err)
	}
	if key := get(MasterKeyVars[0]); key != "" && cfg.MasterKey() == "" {
		// A config that names no key takes GATEWAY_MASTER_KEY from the
		// environment (as Cloud Run's secret mount gives it).
		cfg.General.MasterKey = key
	}
	if key, ok := overlay[MasterKeyVars[0]]; ok {
		switch cfg.MasterKey() {
		case "":
			cfg.General.MasterKey = key
		case key:
		default:
			return nil, fmt.Errorf("config (%s): its master_key differs from the key in %s; "+
				"write master_key: os.environ/GATEWAY_MASTER_KEY to use the fetched key", source, out.MasterKeySource)
		}
	}
	out.Config = cfg
	return out, nil
}

func loadMasterKey(ctx context.Context, get func(string) string, fetch func() (Fetcher, error), overlay map[string]string, out *Loaded) error {
	secret, param := get(EnvMasterKeySecretARN), get(EnvMasterKeySSMParameter)
	if secret != "" && param != "" {
		return fmt.Errorf("set only one of %s and %s", EnvMasterKeySecretARN, EnvMasterKeySSMParameter)
	}
	if secret == "" && param == "" {
		return nil
	}
	f, err := fetch()
	if err != nil {
		return fmt.Errorf("master key: %w", err)
	}
	var key string
	if secret != "" {
		out.MasterKeySource = "secretsmanager secret " + secret
		key, err = f.Secret(ctx, secret)
	} else {
		out.MasterKeySource = "ssm parameter " + param
		key, err = f.Parameter(ctx, param)
	}
	if err != nil {
		return fmt.Errorf("master key from %s: %w", out.MasterKeySource, err)
	}
	// Secrets pasted from a terminal often end in a newline the client never sends.
	key = strings.TrimSpace(key)
	if key == "" {
		return fmt.Errorf("master key from %s is empty", out.MasterKeySource)
	}
	for _, name := range MasterKeyVars {
		overlay[name] = key
	}
	return nil
}

func readConfig(ctx context.Context, opts Options, get func(string) string, fetch func() (Fetcher, error)) ([]byte, string, error) {
	if opts.Path != "" {
		return readFile(opts.Path)
	}
	path, param, secret := get(EnvConfig), get(EnvConfigSSMParameter), get(EnvConfigSecretARN)
	named := 0
	for _, v := range []string{path, param, secret} {
		if v != "" {
			named++
		}
	}
	if named > 1 {
		return nil, "", fmt.Errorf("set only one of %s, %s and %s", EnvConfig, EnvConfigSSMParameter, EnvConfigSecretARN)
	}
	switch {
	case path != "":
		return readFile(path)
	case param != "" || secret != "":
		f, err := fetch()
		if err != nil {
			return nil, "", fmt.Errorf("config: %w", err)
		}
		var (
			text   string
			source string
		)
		if param != "" {
			source = "ssm parameter " + param
			text, err = f.Parameter(ctx, param)
		} else {
			source = "secretsmanager secret " + secret
			text, err = f.Secret(ctx, secret)
		}
		if err != nil {
			return nil, "", fmt.Errorf("config from %s: %w", source, err)
		}
		return []byte(text), source, nil
	}
	noConfig := fmt.Sprintf("no config: pass -config FILE or set %s, %s or %s", EnvConfig, EnvConfigSSMParameter, EnvConfigSecretARN)
	if opts.DefaultPath == "" {
		return nil, "", errors.New(noConfig)
	}
	if _, err := os.Stat(opts.DefaultPath); errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("%s, or put a config.yaml at %s", noConfig, opts.DefaultPath)
	}
	return readFile(opts.DefaultPath)
}

// BesideExecutable is config.yaml in the running binary's directory: the
// default config of both entry points (the Lambda deployment package and the
// container image put it there). "" if the executable cannot be found.
func BesideExecutable() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	return filepath.Join(filepath.Dir(exe), "config.yaml")
}

func readFile(path string) ([]byte, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("config: %w", err)
	}
	return data, "file " + path, nil
}
