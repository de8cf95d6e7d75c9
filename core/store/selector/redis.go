//go:build !noredis

package selector

import (
	"context"
	"fmt"

	"github.com/claude-gateway/claude-gateway/core/store/redis"
)

// hasRedis says whether this build includes the redis store.
const hasRedis = true

func openRedis(_ context.Context, p params) (backend, error) {
	r := p.cfg.Router
	client, err := redis.NewClient(redis.ClientOptions{
		URL:      first(r.RedisURL, p.env("REDIS_URL")),
		Host:     first(r.RedisHost, p.env("REDIS_HOST")),
		Port:     first(r.RedisPort, p.env("REDIS_PORT")),
		Password: first(r.RedisPassword, p.env("REDIS_PASSWORD")),
	})
	if err != nil {
		return backend{}, fmt.Errorf("state_store redis: %w", err)
	}
	s, err := redis.New(redis.Options{Client: client, Prefix: p.env("GATEWAY_STATE_PREFIX"), Logger: p.log, Retention: p.retention})
	if err != nil {
		client.Close()
		return backend{}, err
	}
	return backend{store: s, spend: s, close: client.Close}, nil
}
