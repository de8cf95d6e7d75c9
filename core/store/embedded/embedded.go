// Package embedded is the state store for one gateway process with no state
// server (`make run`, a single VM): counters, cooldowns, affinity entries and
// spend records in one local file (bbolt, pure Go, no cgo) that survives
// restarts.
//
// Counters and entries live in memory, where the router reads and bumps them
// at memory speed, and are written to the file in the background once per
// SyncInterval and on Close: a crash loses at most that much counting, never
// a spend record. Spend records go to the file in the batch the recorder
// hands over, one fsynced transaction per batch, indexed by time, model and
// key so /spend/logs never scans. The file is locked: a second process
// opening it fails instead of sharing it unsafely.
package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/spend"
)

var (
	bucketKV     = []byte("kv")
	bucketSpend  = []byte("spend")       // call id -> record JSON
	bucketByTime = []byte("spend_time")  // sort key -> nil
	bucketByMdl  = []byte("spend_model") // model \x00 sort key -> nil
	bucketByKey  = []byte("spend_key")   // key hash \x00 sort key -> nil
	// bucketByWho indexes virtual-key owners: "u:" user id or "t:" team id \x00 sort key -> nil.
	bucketByWho = []byte("spend_who")
)

// ownerIndexes are r's entries in bucketByWho (before the sort key).
func ownerIndexes(r spend.Record) []string {
	var out []string
	if r.UserID != "" {
		out = append(out, "u:"+r.UserID)
	}
	if r.TeamID != "" {
		out = append(out, "t:"+r.TeamID)
	}
	return out
}

// Options tune the store. Zero values take the defaults.
type Options struct {
	Logger *slog.Logger
	// SyncInterval is how often changed counters and entries reach the file (default 1s).
	SyncInterval time.Duration
	// Retention deletes spend records older than this (0 keeps them).
	Retention time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Store implements router.Store and spend.Store over one bbolt file.
type Store struct {
	db  *bolt.DB
	o   Options
	log *slog.Logger

	mu    sync.Mutex
	kv    map[string]entry
	dirty map[string]struct{}
	sweep time.Time

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

type entry struct {
	n       int64
	value   string
	expires time.Time
}

var (
	_ router.Store = (*Store)(nil)
	_ spend.Store  = (*Store)(nil)
)

// Open opens (creating if needed) the state file at path.
func Open(path string, o Options) (*Store, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("embedded store: %s is in use by another process (one file per gateway process; use dynamodb, firestore or redis to share state)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("embedded store: open %s: %w", path, err)
	}
	s := &Store{db: db, o: o, log: o.Logger, kv: map[string]entry{}, dirty: map[string]struct{}{},
		stop: make(chan struct{}), done: make(chan struct{})}
	if err := s.load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("embedded store: read %s: %w", path, err)
	}
	go s.loop()
	return s, nil
}

// load creates the buckets and reads the live counters and entries.
func (s *Store) load() error {
	now := s.o.Now()
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketKV, bucketSpend, bucketByTime, bucketByMdl, bucketByKey, bucketByWho} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		c := tx.Bucket(bucketKV).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			e, ok := decodeEntry(v)
			if !ok || !now.Before(e.expires) {
				if err := c.Delete(); err != nil {
					return err
				}
				continue
			}
			s.kv[string(k)] = e
		}
		return nil
	})
}

// Close writes the counters and entries and closes the file.
func (s *Store) Close() error {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	return s.db.Close()
}

func (s *Store) loop() {
	defer close(s.done)
	t := time.NewTicker(s.o.SyncInterval)
	defer t.Stop()
	lastPrune := time.Time{}
	for {
		select {
		case <-s.stop:
			if err := s.sync(); err != nil {
				s.log.Error("embedded store: final write of counters failed", "err", err)
			}
			return
		case <-t.C:
			if err := s.sync(); err != nil {
				s.log.Warn("embedded store: writing counters failed; will retry", "err", err)
			}
			if s.o.Retention > 0 && time.Since(lastPrune) > time.Hour {
				lastPrune = time.Now()
				if n, err := s.prune(s.o.Now().Add(-s.o.Retention)); err != nil {
					s.log.Warn("embedded store: pruning old spend records failed", "err", err)
				} else if n > 0 {
					s.log.Info("embedded store: pruned old spend records", "count", n)
				}
			}
		}
	}
}

// sync writes the counters and entries changed since the last sync.
func (s *Store) sync() error {
	s.mu.Lock()
	if len(s.dirty) == 0 {
		s.mu.Unlock()
		return nil
	}
	now := s.o.Now()
	type change struct {
		key string
		val []byte // nil: delete
	}
	changes := make([]change, 0, len(s.dirty))
	for k := range s.dirty {
		if e, ok := s.live(k, now); ok {
			changes = append(changes, change{k, encodeEntry(e)})
		} else {
			changes = append(changes, change{k, nil})
		}
	}
	s.dirty = map[string]struct{}{}
	s.mu.Unlock()
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketKV)
		for _, c := range changes {
			var err error
			if c.val == nil {
				err = b.Delete([]byte(c.key))
			} else {
				err = b.Put([]byte(c.key), c.val)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.mu.Lock()
		for _, c := range changes {
			s.dirty[c.key] = struct{}{}
		}
		s.mu.Unlock()
	}
	return err
}

func encodeEntry(e entry) []byte {
	b := make([]byte, 16+len(e.value))
	binary.BigEndian.PutUint64(b, uint64(e.n))
	binary.BigEndian.PutUint64(b[8:], uint64(e.expires.UnixNano()))
	copy(b[16:], e.value)
	return b
}

func decodeEntry(b []byte) (entry, bool) {
	if len(b) < 16 {
		return entry{}, false
	}
	return entry{
		n:       int64(binary.BigEndian.Uint64(b)),
		expires: time.Unix(0, int64(binary.BigEndian.Uint64(b[8:]))),
		value:   string(b[16:]),
	}, true
}

// live returns the entry at key if it has not expired. Caller holds mu.
func (s *Store) live(key string, now time.Time) (entry, bool) {
	e, ok := s.kv[key]
	if !ok || !now.Before(e.expires) {
		return entry{}, false
	}
	return e, true
}

// maybeSweep forgets expired entries once a minute so memory stays bounded
// by what is live; the deletions reach the file with the next sync.
func (s *Store) maybeSweep(now time.Time) {
	if now.Sub(s.sweep) < time.Minute {
		return
	}
	s.sweep = now
	for k, e := range s.kv {
		if !now.Before(e.expires) {
			delete(s.kv, k)
			s.dirty[k] = struct{}{}
		}
	}
}

// Incr implements router.Store.
func (s *Store) Incr(_ context.Context, key string, delta, limit int64, expires time.Time) (int64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.o.Now()
	s.maybeSweep(now)
	e, ok := s.live(key, now)
	if !ok {
		e = entry{expires: expires}
	}
	if limit > 0 && e.n+delta > limit {
		return e.n, false, nil
	}
	e.n += delta
	s.kv[key] = e
	s.dirty[key] = struct{}{}
	return e.n, true, nil
}

// Counts implements router.Store.
func (s *Store) Counts(_ context.Context, keys []string) ([]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.o.Now()
	out := make([]int64, len(keys))
	for i, k := range keys {
		if e, ok := s.live(k, now); ok {
			out[i] = e.n
		}
	}
	return out, nil
}

// Put implements router.Store.
func (s *Store) Put(_ context.Context, key, value string, expires time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maybeSweep(s.o.Now())
	s.kv[key] = entry{value: value, expires: expires}
	s.dirty[key] = struct{}{}
	return nil
}

// Get implements router.Store.
func (s *Store) Get(_ context.Context, keys []string) ([]router.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.o.Now()
	out := make([]router.Entry, len(keys))
	for i, k := range keys {
		if e, ok := s.live(k, now); ok {
			out[i] = router.Entry{Value: e.value, Expires: e.expires}
		}
	}
	return out, nil
}

func indexKey(prefix, sk string) []byte {
	b := make([]byte, 0, len(prefix)+1+len(sk))
	b = append(b, prefix...)
	b = append(b, 0)
	return append(b, sk...)
}

// PutSpend implements spend.Store: one transaction per batch; a call id
// already stored is left as it is.
func (s *Store) PutSpend(_ context.Context, recs []spend.Record) error {
	recs = spend.Dedupe(recs)
	if len(recs) == 0 {
		return nil
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		data, byTime, byMdl, byKey := tx.Bucket(bucketSpend), tx.Bucket(bucketByTime), tx.Bucket(bucketByMdl), tx.Bucket(bucketByKey)
		// Keys arrive in time order (UUIDv7 call ids, time-prefixed index
		// keys): full pages, as for an append, mean fewer pages to write.
		for _, b := range []*bolt.Bucket{data, byTime, byMdl, byKey} {
			b.FillPercent = 0.95
		}
		for _, r := range recs {
			id := []byte(r.CallID)
			if data.Get(id) != nil {
				continue
			}
			// A fresh slice per record: bbolt keeps values until the commit.
			js := spend.AppendJSON(nil, r)
			sk := spend.SortKey(r)
			if err := data.Put(id, js); err != nil {
				return err
			}
			if err := byTime.Put([]byte(sk), nil); err != nil {
				return err
			}
			for _, m := range spend.ModelNames(r) {
				if err := byMdl.Put(indexKey(m, sk), nil); err != nil {
					return err
				}
			}
			if r.KeyHash != "" {
				if err := byKey.Put(indexKey(r.KeyHash, sk), nil); err != nil {
					return err
				}
			}
			for _, o := range ownerIndexes(r) {
				if err := tx.Bucket(bucketByWho).Put(indexKey(o, sk), nil); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// QuerySpend implements spend.Store. It walks one index backwards from the
// upper bound: the key index if a key is given, else the user's or team's,
// else the model index, else time; the other filters are checked on the records found.
func (s *Store) QuerySpend(_ context.Context, q spend.Query) (spend.Page, error) {
	q, err := q.Normalize()
	if err != nil {
		return spend.Page{}, err
	}
	var page spend.Page
	err = s.db.View(func(tx *bolt.Tx) error {
		data := tx.Bucket(bucketSpend)
		lo, hi := q.Bounds()
		if q.RequestID != "" {
			r, ok, err := getRecord(data, q.RequestID)
			if err != nil || !ok {
				return err
			}
			if sk := spend.SortKey(r); q.Matches(r) && sk >= lo && (hi == "" || sk < hi) {
				page.Records = append(page.Records, r)
			}
			return nil
		}
		var b *bolt.Bucket
		var prefix []byte
		switch {
		case q.KeyHash != "":
			b, prefix = tx.Bucket(bucketByKey), indexKey(q.KeyHash, "")
		case q.UserID != "":
			b, prefix = tx.Bucket(bucketByWho), indexKey("u:"+q.UserID, "")
		case q.TeamID != "":
			b, prefix = tx.Bucket(bucketByWho), indexKey("t:"+q.TeamID, "")
		case q.Model != "":
			b, prefix = tx.Bucket(bucketByMdl), indexKey(q.Model, "")
		default:
			b = tx.Bucket(bucketByTime)
		}
		c := b.Cursor()
		var k []byte
		if hi == "" {
			k, _ = c.Seek(append(bytes.Clone(prefix), 0xff))
		} else {
			k, _ = c.Seek(append(bytes.Clone(prefix), hi...))
		}
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		low := append(bytes.Clone(prefix), lo...)
		for ; k != nil && bytes.HasPrefix(k, prefix) && bytes.Compare(k, low) >= 0; k, _ = c.Prev() {
			sk := string(k[len(prefix):])
			if hi != "" && sk >= hi {
				continue
			}
			r, ok, err := getRecord(data, sk[20:])
			if err != nil {
				return err
			}
			if !ok || !q.Matches(r) {
				continue
			}
			if len(page.Records) == q.Limit {
				page.NextCursor = spend.EncodeCursor(spend.SortKey(page.Records[q.Limit-1]))
				return nil
			}
			page.Records = append(page.Records, r)
		}
		return nil
	})
	return page, err
}

func getRecord(data *bolt.Bucket, id string) (spend.Record, bool, error) {
	js := data.Get([]byte(id))
	if js == nil {
		return spend.Record{}, false, nil
	}
	var r spend.Record
	if err := json.Unmarshal(js, &r); err != nil {
		return r, false, fmt.Errorf("embedded store: record %s: %w", id, err)
	}
	return r, true, nil
}

// prune deletes spend records that started before cutoff, with their index entries.
func (s *Store) prune(cutoff time.Time) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		data, byTime, byMdl, byKey := tx.Bucket(bucketSpend), tx.Bucket(bucketByTime), tx.Bucket(bucketByMdl), tx.Bucket(bucketByKey)
		// Keys arrive in time order (UUIDv7 call ids, time-prefixed index
		// keys): full pages, as for an append, mean fewer pages to write.
		for _, b := range []*bolt.Bucket{data, byTime, byMdl, byKey} {
			b.FillPercent = 0.95
		}
		limit := []byte(spend.TimeKey(cutoff))
		c := byTime.Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k, limit) < 0; k, _ = c.First() {
			sk := string(k)
			r, ok, err := getRecord(data, sk[20:])
			if err != nil {
				return err
			}
			if ok {
				for _, m := range spend.ModelNames(r) {
					if err := byMdl.Delete(indexKey(m, sk)); err != nil {
						return err
					}
				}
				if r.KeyHash != "" {
					if err := byKey.Delete(indexKey(r.KeyHash, sk)); err != nil {
						return err
					}
				}
				for _, o := range ownerIndexes(r) {
					if err := tx.Bucket(bucketByWho).Delete(indexKey(o, sk)); err != nil {
						return err
					}
				}
				if err := data.Delete([]byte(r.CallID)); err != nil {
					return err
				}
			}
			if err := c.Delete(); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}
