package selector

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/spend"
	"github.com/claude-gateway/claude-gateway/core/store/embedded"
	"github.com/claude-gateway/claude-gateway/core/store/memory"
)

// params is what a backend's opener reads: the config, the environment
// (first non-empty of the names), the logger and the spend retention.
type params struct {
	cfg       *config.Config
	platform  string
	env       func(names ...string) string
	log       *slog.Logger
	retention time.Duration
}

// backend is an opened store: the router's and the spend store, and what
// to close at shutdown (nil: nothing).
type backend struct {
	store router.Store
	spend spend.Store
	close func() error
}

// opener opens one backend.
type opener func(context.Context, params) (backend, error)

// backends maps each state_store name to its opener. The cloud ones are
// declared in build-tagged files: a build made without one (the Lambda
// bootstrap has no Firestore, the lean Cloud Run binary no DynamoDB or
// Firestore) gets an opener that says so at start instead of the SDK.
var backends = map[string]opener{
	Memory:    openMemory,
	Embedded:  openEmbedded,
	DynamoDB:  openDynamoDB,
	Firestore: openFirestore,
	Redis:     openRedis,
}

// Build tags that leave a cloud store (and its SDK) out of a binary.
const (
	TagNoDynamoDB  = "nodynamodb"
	TagNoFirestore = "nofirestore"
	TagNoRedis     = "noredis"
)

// notInBuild is the start-up error of a backend the binary was built
// without. It says how to get a build that has it: a runtime build takes
// a store its bundled config names, or the one CLOUDRUN_STORE /
// LAMBDA_STORE asks for (the Dockerfile's CLOUDRUN_STORE build argument).
func notInBuild(kind, tag string) opener {
	return func(context.Context, params) (backend, error) {
		return backend{}, fmt.Errorf("state_store %q is not in this build (built with -tags %s): "+
			"build with it (`make image CLOUDRUN_STORE=%s`, `make lambda LAMBDA_STORE=%s`, docker build --build-arg CLOUDRUN_STORE=%s; "+
			"`make build` has every store) "+
			"or set general_settings.state_store / GATEWAY_STATE_STORE to a store this build has (%s)",
			kind, tag, kind, kind, kind, Available())
	}
}

// Available lists the backends this binary can open, comma-separated.
func Available() string {
	out := Memory + ", " + Embedded
	for _, b := range []struct {
		name string
		in   bool
	}{{DynamoDB, hasDynamoDB}, {Firestore, hasFirestore}, {Redis, hasRedis}} {
		if b.in {
			out += ", " + b.name
		}
	}
	return out
}

func openMemory(_ context.Context, p params) (backend, error) {
	if p.platform == PlatformLambda || p.platform == PlatformCloudRun {
		p.log.Warn("state_store memory: limits, cooldowns and spend are per instance and lost on restart; use dynamodb, firestore or redis to share them")
	}
	return backend{store: memory.New(nil), spend: memory.NewSpendStore()}, nil
}

func openEmbedded(_ context.Context, p params) (backend, error) {
	path := first(p.env("GATEWAY_STATE_FILE"), p.cfg.General.StateFile, DefaultFile)
	s, err := embedded.Open(path, embedded.Options{Logger: p.log, Retention: p.retention})
	if err != nil {
		return backend{}, err
	}
	if p.platform == PlatformLambda || p.platform == PlatformCloudRun {
		p.log.Warn("state_store embedded keeps state in this instance's file; instances do not share it", "file", path)
	}
	return backend{store: s, spend: s, close: s.Close}, nil
}
