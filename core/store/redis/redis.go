// Package redis is the shared state store on Redis (or a Redis-compatible
// server), selected by router_settings.redis_host/redis_port/redis_password
// (or redis_url) as LiteLLM's configs do.
//
// Keys (all under a prefix, default "gw:"):
//
//	k:<key>          counter (integer) or entry ("<expiry ms>:<value>"), with PEXPIREAT
//	{s}:r:<call id>  spend record (JSON)
//	{s}:t            sorted set of every record's spend.SortKey (all scores 0, ordered by member)
//	{s}:m:<model>    the same, per model group and requested model
//	{s}:a:<key hash> the same, per client key
//
// The spend keys share the hash tag {s}, so a batch can be one MULTI/EXEC and
// one MGET even on Redis Cluster. Incr is one Lua script (check, INCRBY,
// PEXPIREAT when new): one round trip, atomic. Counts and Get are one
// pipeline of GETs, Put one SET ... PXAT.
package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/spend"
)

// Options configure a Store.
type Options struct {
	Client goredis.UniversalClient
	// Prefix starts every key (default "gw:").
	Prefix string
	Logger *slog.Logger
	// Retention expires spend records (0: kept until deleted).
	Retention time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Store implements router.Store and spend.Store on Redis.
type Store struct {
	c goredis.UniversalClient
	o Options
}

var (
	_ router.Store = (*Store)(nil)
	_ spend.Store  = (*Store)(nil)
)

// New returns a store on c; it makes no calls.
func New(o Options) (*Store, error) {
	if o.Client == nil {
		return nil, errors.New("redis store: a client is required")
	}
	if o.Prefix == "" {
		o.Prefix = "gw:"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Store{c: o.Client, o: o}, nil
}

// ClientOptions say where Redis is: URL (redis:// or rediss://), else Host and Port.
type ClientOptions struct {
	URL, Host, Port, Password string
}

// NewClient builds a client with timeouts suited to the request path: a
// slow Redis must not hold a request for long (the guard fails open).
func NewClient(o ClientOptions) (goredis.UniversalClient, error) {
	var opt *goredis.Options
	if o.URL != "" {
		var err error
		if opt, err = goredis.ParseURL(o.URL); err != nil {
			return nil, fmt.Errorf("redis store: redis_url: %w", err)
		}
	} else {
		if o.Host == "" {
			return nil, errors.New("redis store: redis_host (or redis_url) is required")
		}
		port := o.Port
		if port == "" {
			port = "6379"
		}
		opt = &goredis.Options{Addr: net.JoinHostPort(o.Host, port)}
	}
	if o.Password != "" {
		opt.Password = o.Password
	}
	opt.DialTimeout = 2 * time.Second
	opt.ReadTimeout = time.Second
	opt.WriteTimeout = time.Second
	// One quick retry: more would only stretch an outage past the guard's deadline.
	opt.MaxRetries = 1
	opt.MaxRetryBackoff = 64 * time.Millisecond
	opt.DialerRetries = 1 // the default (5, 100ms apart) makes every call to a down Redis take 0.8s
	return goredis.NewClient(opt), nil
}

func (st *Store) kv(key string) string { return st.o.Prefix + "k:" + key }
func (st *Store) rec(id string) string { return st.o.Prefix + "{s}:r:" + id }
func (st *Store) idxTime() string      { return st.o.Prefix + "{s}:t" }
func (st *Store) idxModel(m string) string {
	return st.o.Prefix + "{s}:m:" + m
}
func (st *Store) idxKey(h string) string { return st.o.Prefix + "{s}:a:" + h }

// idxUser and idxTeam index records by a virtual key's user_id and team_id.
func (st *Store) idxUser(u string) string { return st.o.Prefix + "{s}:u:" + u }
func (st *Store) idxTeam(t string) string { return st.o.Prefix + "{s}:g:" + t }

// incrScript refuses over the limit, else adds and sets the expiry of a new
// counter. PEXPIREAT in the past deletes the key: an expired window.
var incrScript = goredis.NewScript(`
local v = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local d = tonumber(ARGV[1])
local lim = tonumber(ARGV[2])
if lim > 0 and v + d > lim then return {v, 0} end
local n = redis.call('INCRBY', KEYS[1], d)
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIREAT', KEYS[1], ARGV[3]) end
return {n, 1}
`)

// Incr implements router.Store with one script call.
func (st *Store) Incr(ctx context.Context, key string, delta, limit int64, expires time.Time) (int64, bool, error) {
	res, err := incrScript.Run(ctx, st.c, []string{st.kv(key)}, delta, limit, expires.UnixMilli()).Int64Slice()
	if err != nil {
		return 0, false, fmt.Errorf("redis store: incr: %w", err)
	}
	if len(res) != 2 {
		return 0, false, fmt.Errorf("redis store: incr: unexpected reply %v", res)
	}
	return res[0], res[1] == 1, nil
}

// gets reads keys in one pipeline (one round trip; split per node on a cluster).
func (st *Store) gets(ctx context.Context, keys []string) ([]string, []bool, error) {
	vals, found := make([]string, len(keys)), make([]bool, len(keys))
	if len(keys) == 0 {
		return vals, found, nil
	}
	cmds := make([]*goredis.StringCmd, len(keys))
	_, err := st.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Get(ctx, st.kv(k))
		}
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, nil, fmt.Errorf("redis store: get: %w", err)
	}
	for i, c := range cmds {
		v, err := c.Result()
		if err == nil {
			vals[i], found[i] = v, true
		}
	}
	return vals, found, nil
}

// Counts implements router.Store.
func (st *Store) Counts(ctx context.Context, keys []string) ([]int64, error) {
	vals, found, err := st.gets(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(keys))
	for i := range keys {
		if found[i] {
			out[i], _ = strconv.ParseInt(vals[i], 10, 64)
		}
	}
	return out, nil
}

// Put implements router.Store. The value carries its expiry, so Get can
// return it without a second command.
func (st *Store) Put(ctx context.Context, key, value string, expires time.Time) error {
	exp := expires.UnixMilli()
	var err error
	if exp <= st.o.Now().UnixMilli() {
		err = st.c.Del(ctx, st.kv(key)).Err()
	} else {
		// PXAT explicitly: go-redis sends EXAT (whole seconds) for some instants.
		err = st.c.Do(ctx, "set", st.kv(key), strconv.FormatInt(exp, 10)+":"+value, "pxat", exp).Err()
	}
	if err != nil {
		return fmt.Errorf("redis store: put: %w", err)
	}
	return nil
}

// Get implements router.Store.
func (st *Store) Get(ctx context.Context, keys []string) ([]router.Entry, error) {
	vals, found, err := st.gets(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make([]router.Entry, len(keys))
	now := st.o.Now().UnixMilli()
	for i := range keys {
		if !found[i] {
			continue
		}
		msStr, value, ok := strings.Cut(vals[i], ":")
		exp, err := strconv.ParseInt(msStr, 10, 64)
		if !ok || err != nil || exp <= now {
			continue
		}
		out[i] = router.Entry{Value: value, Expires: time.UnixMilli(exp)}
	}
	return out, nil
}

// PutSpend implements spend.Store in one MULTI/EXEC: each record is SET at
// its call id and its sort key added to the indexes. Writing a record again
// overwrites it with the same content and re-adds the same members: one copy.
func (st *Store) PutSpend(ctx context.Context, recs []spend.Record) error {
	recs = spend.Dedupe(recs)
	if len(recs) == 0 {
		return nil
	}
	now := st.o.Now()
	touched := map[string]bool{}
	_, err := st.c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		for _, r := range recs {
			js, err := json.Marshal(r)
			if err != nil {
				return err
			}
			var ttl time.Duration
			if st.o.Retention > 0 {
				if ttl = r.StartTime.Add(st.o.Retention).Sub(now); ttl <= 0 {
					continue // already past retention
				}
			}
			p.Set(ctx, st.rec(r.CallID), js, ttl)
			member := goredis.Z{Member: spend.SortKey(r)}
			idx := []string{st.idxTime()}
			for _, m := range spend.ModelNames(r) {
				idx = append(idx, st.idxModel(m))
			}
			if r.KeyHash != "" {
				idx = append(idx, st.idxKey(r.KeyHash))
			}
			if r.UserID != "" {
				idx = append(idx, st.idxUser(r.UserID))
			}
			if r.TeamID != "" {
				idx = append(idx, st.idxTeam(r.TeamID))
			}
			for _, k := range idx {
				p.ZAdd(ctx, k, member)
				touched[k] = true
			}
		}
		if st.o.Retention > 0 {
			// Index entries of expired records go with the next write.
			cut := "(" + spend.TimeKey(now.Add(-st.o.Retention))
			for k := range touched {
				p.ZRemRangeByLex(ctx, k, "-", cut)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis store: put spend: %w", err)
	}
	return nil
}

// QuerySpend implements spend.Store: it reads one sorted set backwards by
// member (ZRANGE BYLEX REV) from the page's upper bound, then the records in
// one MGET; the key index when a key is given, else the user's, else the
// team's, else the model index, else time.
func (st *Store) QuerySpend(ctx context.Context, q spend.Query) (spend.Page, error) {
	q, err := q.Normalize()
	if err != nil {
		return spend.Page{}, err
	}
	lo, hi := q.Bounds()
	var page spend.Page
	if q.RequestID != "" {
		js, err := st.c.Get(ctx, st.rec(q.RequestID)).Bytes()
		if errors.Is(err, goredis.Nil) {
			return page, nil
		}
		if err != nil {
			return page, fmt.Errorf("redis store: get record: %w", err)
		}
		var r spend.Record
		if err := json.Unmarshal(js, &r); err != nil {
			return page, fmt.Errorf("redis store: record %s: %w", q.RequestID, err)
		}
		if sk := spend.SortKey(r); q.Matches(r) && sk >= lo && (hi == "" || sk < hi) {
			page.Records = append(page.Records, r)
		}
		return page, nil
	}
	idx := st.idxTime()
	switch {
	case q.KeyHash != "":
		idx = st.idxKey(q.KeyHash)
	case q.UserID != "":
		idx = st.idxUser(q.UserID)
	case q.TeamID != "":
		idx = st.idxTeam(q.TeamID)
	case q.Model != "":
		idx = st.idxModel(q.Model)
	}
	max, min := "+", "-"
	if hi != "" {
		max = "(" + hi
	}
	if lo != "" {
		min = "[" + lo
	}
	want := q.Limit + 1
	var keys []string // sort keys of the records kept
	for {
		members, err := st.c.ZRangeArgs(ctx, goredis.ZRangeArgs{
			Key: idx, Start: max, Stop: min, ByLex: true, Rev: true, Count: int64(want),
		}).Result()
		if err != nil {
			return page, fmt.Errorf("redis store: query index: %w", err)
		}
		if len(members) == 0 {
			break
		}
		ids := make([]string, len(members))
		for i, m := range members {
			ids[i] = st.rec(m[20:])
		}
		vals, err := st.c.MGet(ctx, ids...).Result()
		if err != nil {
			return page, fmt.Errorf("redis store: read records: %w", err)
		}
		for i, v := range vals {
			str, ok := v.(string)
			if !ok {
				continue // expired record, index entry not yet removed
			}
			var r spend.Record
			if err := json.Unmarshal([]byte(str), &r); err != nil {
				return page, fmt.Errorf("redis store: record %s: %w", members[i], err)
			}
			if !q.Matches(r) {
				continue
			}
			if len(page.Records) == q.Limit {
				page.NextCursor = spend.EncodeCursor(keys[len(keys)-1])
				return page, nil
			}
			page.Records = append(page.Records, r)
			keys = append(keys, members[i])
		}
		if len(members) < want {
			break
		}
		max = "(" + members[len(members)-1]
	}
	return page, nil
}
