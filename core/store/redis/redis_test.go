package redis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/spend"
	"github.com/claude-gateway/claude-gateway/core/store/storetest"
)

// open uses the redis-server at REDIS_ADDR (started by
// scripts/test-services.sh) with a fresh key prefix per call, or skips.
func open(tb testing.TB) (router.Store, spend.Store) {
	addr := os.Getenv("REDIS_ADDR")
	if addr == "" {
		reason := ""
		if r := os.Getenv("STATE_TEST_SKIP_REDIS"); r != "" {
			reason = " (" + r + ")"
		}
		tb.Skip("SKIP: REDIS_ADDR is not set; run through scripts/test-services.sh to test against redis-server" + reason)
	}
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	prefix := fmt.Sprintf("gwtest-%08x:", rand.Uint32())
	tb.Cleanup(func() {
		ctx := context.Background()
		keys, _ := c.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
		c.Close()
	})
	st, err := New(Options{Client: c, Prefix: prefix})
	if err != nil {
		tb.Fatal(err)
	}
	return st, st
}

func TestConformance(t *testing.T) { storetest.Run(t, open) }

func BenchmarkStore(b *testing.B) { storetest.Bench(b, open) }

func TestNewClient(t *testing.T) {
	for _, tc := range []struct {
		o       ClientOptions
		addr    string
		wantErr bool
	}{
		{ClientOptions{Host: "redis.internal", Port: "6380", Password: "p"}, "redis.internal:6380", false},
		{ClientOptions{Host: "redis.internal"}, "redis.internal:6379", false},
		{ClientOptions{URL: "redis://:pw@cache:6390/2"}, "cache:6390", false},
		{ClientOptions{}, "", true},
		{ClientOptions{URL: "http://nope"}, "", true},
	} {
		c, err := NewClient(tc.o)
		if (err != nil) != tc.wantErr {
			t.Fatalf("%+v: err = %v", tc.o, err)
		}
		if err != nil {
			continue
		}
		if got := c.(*goredis.Client).Options().Addr; got != tc.addr {
			t.Errorf("%+v: addr %q, want %q", tc.o, got, tc.addr)
		}
		c.Close()
	}
}

// TestMultiInstance: four clients on one prefix, as four gateway instances.
func TestMultiInstance(t *testing.T) {
	storetest.RunMultiInstance(t, func(tb testing.TB, n int) ([]router.Store, []spend.Store) {
		first, _ := open(tb)
		prefix := first.(*Store).o.Prefix
		rs, ss := []router.Store{first}, []spend.Store{first.(*Store)}
		for range n - 1 {
			c := goredis.NewClient(&goredis.Options{Addr: os.Getenv("REDIS_ADDR")})
			tb.Cleanup(func() { c.Close() })
			st, _ := New(Options{Client: c, Prefix: prefix})
			rs, ss = append(rs, st), append(ss, st)
		}
		return rs, ss
	})
}
