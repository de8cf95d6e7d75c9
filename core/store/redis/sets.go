package redis

import (
	"context"
	"fmt"

	goredis "github.com/redis/go-redis/v9"
)

// Sets (identity's listings) are sorted sets whose members all score 0, so
// Redis orders them by their bytes and ZRANGEBYLEX pages them.

func (st *Store) set(name string) string { return st.o.Prefix + "set:" + name }

// SetAdd adds member to set (ZADD).
func (st *Store) SetAdd(ctx context.Context, set, member string) error {
	if err := st.c.ZAdd(ctx, st.set(set), goredis.Z{Member: member}).Err(); err != nil {
		return fmt.Errorf("redis store: set add: %w", err)
	}
	return nil
}

// SetRemove removes member from set (ZREM).
func (st *Store) SetRemove(ctx context.Context, set, member string) error {
	if err := st.c.ZRem(ctx, st.set(set), member).Err(); err != nil {
		return fmt.Errorf("redis store: set remove: %w", err)
	}
	return nil
}

// SetRange returns up to limit members after after (ZRANGEBYLEX).
func (st *Store) SetRange(ctx context.Context, set, after string, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	// "(" + after is exclusive, also for after "": a member "" is never
	// greater than the start of a range.
	out, err := st.c.ZRangeByLex(ctx, st.set(set), &goredis.ZRangeBy{Min: "(" + after, Max: "+", Count: int64(limit)}).Result()
	if err != nil {
		return nil, fmt.Errorf("redis store: set range: %w", err)
	}
	return out, nil
}
