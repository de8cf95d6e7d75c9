// Package embedded is the state store for one gateway process with no state
// server (`make run`, a single VM): counters, cooldowns, affinity entries and
// spend records in one local directory that survives restarts. Pure Go.
//
// Counters and entries are the memory store's (core/store/memory), read and
// bumped at memory speed; a snapshot of them (kv.snap, written to a temporary
// file, fsynced and renamed over the old one) reaches the disk once per
// SyncInterval when something changed, and on Close: a crash loses at most
// that much counting, never a spend record.
//
// Spend records go to an append-only log of segment files (see segment.go).
// Fsync policy: PutSpend returns only after its records are written and
// fsynced; concurrent calls share one write and one fsync (group commit), so
// a batch costs one sequential write and one fsync whatever its size, with no
// index pages to update. An in-memory index (index.go), rebuilt by reading
// the log at Open, answers /spend/logs without scanning; in-memory totals
// (totals.go), updated with the index and rebuilt with it, answer spend
// reports and charts (spend.Reporter, spend.SeriesReporter) without reading
// records. A crash mid-write leaves at most a cut frame at the end of the
// newest segment, which Open truncates; every acknowledged record is there
// after a restart.
//
// The write path allocates nothing per record once warm (BenchmarkPutSpend,
// BenchmarkIndexRecords): a batch is encoded, outside the locks, into a
// buffer kept from earlier batches; the group is written from it and then
// indexed and counted by decoding the frames again from it, under one lock
// per group. The index holds no pointers (about 120 bytes a record), so it
// costs the garbage collector nothing however large the log grows.
//
// The directory is locked: a second process opening it fails instead of
// sharing it unsafely.
package embedded

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/spend"
	"github.com/claude-gateway/claude-gateway/core/store/memory"
)

// Options tune the store. Zero values take the defaults.
type Options struct {
	Logger *slog.Logger
	// SyncInterval is how often changed counters and entries reach the disk (default 1s).
	SyncInterval time.Duration
	// Retention deletes spend records older than this (0 keeps them).
	Retention time.Duration
	// SegmentBytes is the size past which the log starts a new segment file
	// (default 64 MiB): retention deletes whole segments.
	SegmentBytes int64
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// ErrClosed is returned by PutSpend after Close.
var ErrClosed = errors.New("embedded store: closed")

// Store implements router.Store (the memory store's counters and entries,
// persisted by snapshot) and spend.Store (the segment log) in one directory.
type Store struct {
	*memory.Store

	dir  string
	o    Options
	log  *slog.Logger
	lock *os.File

	mu   sync.RWMutex // guards idx, tot and segs
	idx  index
	tot  totals
	segs []*segment // oldest first; the last one is appended to
	// truncated is how many bytes of a cut last frame Open removed.
	truncated int64

	wmu      sync.Mutex // guards the commit queue and free
	queue    []*commit
	flushing bool
	inflight map[string]struct{}
	closed   bool
	writers  sync.WaitGroup
	free     []*commit // commits done with, their buffers kept for reuse
	// group is the buffer a group of several commits is written from; only
	// the one flushing goroutine uses it.
	group []byte

	kvVersion uint64 // version of the last snapshot written (loop only)
	stop      chan struct{}
	done      chan struct{}
	once      sync.Once
}

// commit is one PutSpend's records, encoded as frames (segment.go),
// waiting for the group write. Commits are reused: their buffers, grown to
// a batch's size once, are encoded into again.
type commit struct {
	frames []byte
	ids    []string // call ids, for the in-flight set
	keep   []int32  // scratch: which of the call's records are written
	done   chan error
}

// Commit buffers larger than this are not kept for reuse (a batch of the
// gateway's recorder is at most about 1 MiB), nor more than maxFree commits.
const (
	maxFreeBytes = 4 << 20
	maxFree      = 4
)

var (
	_ router.Store         = (*Store)(nil)
	_ spend.Store          = (*Store)(nil)
	_ spend.Reporter       = (*Store)(nil)
	_ spend.SeriesReporter = (*Store)(nil)
)

// Open opens (creating if needed) the state directory at path.
func Open(path string, o Options) (*Store, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = time.Second
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 64 << 20
	}
	o.SegmentBytes = min(o.SegmentBytes, 1<<30) // offsets are 32-bit
	if o.Now == nil {
		o.Now = time.Now
	}
	if fi, err := os.Stat(path); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("embedded store: %s is a file (an older gateway's bbolt state file?): "+
			"the store is now a directory; move the file away or set GATEWAY_STATE_FILE to a new path", path)
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("embedded store: %w", err)
	}
	lock, err := lockDir(path)
	if err != nil {
		return nil, fmt.Errorf("embedded store: %s is in use by another process (one directory per gateway process; use dynamodb, firestore or redis to share state): %w", path, err)
	}
	s := &Store{Store: memory.New(o.Now), dir: path, o: o, log: o.Logger, lock: lock, idx: newIndex(), tot: newTotals(),
		inflight: map[string]struct{}{}, stop: make(chan struct{}), done: make(chan struct{})}
	if err := s.load(); err != nil {
		s.closeFiles()
		return nil, fmt.Errorf("embedded store: read %s: %w", path, err)
	}
	go s.loop()
	return s, nil
}

// load reads the snapshot and every segment, truncating a cut last frame.
func (s *Store) load() error {
	if items, err := readSnapshot(filepath.Join(s.dir, snapName)); err != nil {
		s.log.Warn("embedded store: counters snapshot unreadable; starting the counters afresh", "err", err)
	} else {
		s.Restore(items)
	}
	_, s.kvVersion = s.Snapshot()
	nums, err := listSegments(s.dir)
	if err != nil {
		return err
	}
	s.idx.grow(estimateRecords(s.dir, nums))
	cutoff := int64(-1 << 63)
	if s.o.Retention > 0 {
		cutoff = s.o.Now().Add(-s.o.Retention).UnixNano()
	}
	for i, num := range nums {
		seg := &segment{num: num, path: filepath.Join(s.dir, segName(num)), maxStart: -1 << 63}
		if seg.f, err = os.OpenFile(seg.path, os.O_RDWR, 0); err != nil {
			return err
		}
		s.segs = append(s.segs, seg)
		valid, err := scanSegment(seg.f, func(r *scanned) {
			seg.maxStart = max(seg.maxStart, r.start)
			if r.start >= cutoff && s.idx.add(rec{start: r.start, seg: num, off: r.off, size: r.size}, r.id, r.terms.all()) {
				s.count(r)
			}
		})
		switch {
		case errors.Is(err, errCut) && i == len(nums)-1:
			if err := s.truncateTail(seg, valid); err != nil {
				return err
			}
		case err != nil:
			return fmt.Errorf("%s: %w at offset %d", seg.path, err, valid)
		default:
			seg.size = valid
		}
	}
	// A new directory gets its first segment at the first write (active),
	// not here: creating it fsyncs the file and the directory, which a
	// Cloud Run instance (a fresh file system each time) would otherwise
	// wait for on every cold start.
	return nil
}

// frameEstimate is about the size of a gateway's frame (head, terms, report
// fields and JSON), to size the index before reading the log.
const frameEstimate = 700

// estimateRecords guesses how many records the segments hold from their sizes.
func estimateRecords(dir string, nums []uint32) int {
	var size int64
	for _, num := range nums {
		if fi, err := os.Stat(filepath.Join(dir, segName(num))); err == nil {
			size += fi.Size()
		}
	}
	return int(min(size/frameEstimate, 1<<30))
}

// truncateTail cuts the newest segment back to its last whole frame: what a
// crash between write and fsync leaves (none of it was acknowledged).
func (s *Store) truncateTail(seg *segment, valid int64) error {
	fi, err := seg.f.Stat()
	if err != nil {
		return err
	}
	if valid < int64(len(segMagic)) { // cut while the file was being created
		valid = 0
	}
	s.truncated = fi.Size() - valid
	s.log.Warn("embedded store: removing a cut write at the end of the spend log (left by a crash; never acknowledged)",
		"file", seg.path, "bytes", s.truncated)
	if err := seg.f.Truncate(valid); err != nil {
		return err
	}
	if valid == 0 {
		if _, err := seg.f.WriteAt([]byte(segMagic), 0); err != nil {
			return err
		}
		valid = int64(len(segMagic))
	}
	seg.size = valid
	return seg.f.Sync()
}

// Close writes the counters, waits for writes under way and closes the files.
func (s *Store) Close() error {
	s.wmu.Lock()
	s.closed = true
	s.wmu.Unlock()
	s.writers.Wait()
	s.once.Do(func() { close(s.stop) })
	<-s.done
	return s.closeFiles()
}

func (s *Store) closeFiles() error {
	var first error
	for _, seg := range s.segs {
		if err := seg.f.Close(); err != nil && first == nil {
			first = err
		}
	}
	s.segs = nil
	if err := unlockDir(s.lock); err != nil && first == nil {
		first = err
	}
	return first
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

// sync writes a snapshot of the counters and entries if they changed.
func (s *Store) sync() error {
	if s.Version() == s.kvVersion {
		return nil
	}
	items, v := s.Snapshot()
	if err := writeSnapshot(s.dir, items); err != nil {
		return err
	}
	s.kvVersion = v
	return nil
}

// PutSpend implements spend.Store: the records are durable when it returns;
// a call id already stored is left as it is.
func (s *Store) PutSpend(_ context.Context, recs []spend.Record) error {
	s.wmu.Lock()
	if s.closed {
		s.wmu.Unlock()
		return ErrClosed
	}
	c := s.claim(recs)
	if len(c.ids) == 0 {
		s.release(c)
		s.wmu.Unlock()
		return nil
	}
	s.writers.Add(1) // before unlocking: Close waits for this call
	s.wmu.Unlock()
	defer s.writers.Done()
	c.encode(recs)
	s.wmu.Lock()
	s.queue = append(s.queue, c)
	lead := !s.flushing
	s.flushing = true
	s.wmu.Unlock()
	if lead {
		s.flush()
	}
	err := <-c.done
	s.wmu.Lock()
	s.release(c)
	s.wmu.Unlock()
	return err
}

// claim takes a commit and puts into it the call ids of recs to write: not
// empty, not stored, not being written by another call, and of two records
// with one call id the last (spend.Dedupe's rule, without its copy of the
// batch). recs are walked backwards for that: c.keep lists the kept ones
// last first. Caller holds wmu.
func (s *Store) claim(recs []spend.Record) *commit {
	var c *commit
	if n := len(s.free); n > 0 {
		c, s.free = s.free[n-1], s.free[:n-1]
	} else {
		c = &commit{done: make(chan error, 1)}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for i := len(recs) - 1; i >= 0; i-- {
		id := recs[i].CallID
		if id == "" {
			continue
		}
		if _, busy := s.inflight[id]; busy || s.idx.has(id) {
			continue // a later record of this call id, or stored, or being stored
		}
		s.inflight[id] = struct{}{}
		c.ids = append(c.ids, id)
		c.keep = append(c.keep, int32(i))
	}
	return c
}

// encode appends the frames of the records claim kept, in their order.
func (c *commit) encode(recs []spend.Record) {
	for k := len(c.keep) - 1; k >= 0; k-- {
		r := &recs[c.keep[k]]
		c.frames = appendFrame(c.frames, r, unixNanos(r.StartTime))
	}
}

// finished forgets the call ids of written (or failed) commits as in flight.
// Caller holds wmu.
func (s *Store) finished(group []*commit) {
	for _, c := range group {
		for _, id := range c.ids {
			delete(s.inflight, id)
		}
	}
}

// release empties c and keeps it for reuse. Caller holds wmu.
func (s *Store) release(c *commit) {
	clear(c.ids) // no reference to the caller's strings
	c.frames, c.ids, c.keep = c.frames[:0], c.ids[:0], c.keep[:0]
	if cap(c.frames) <= maxFreeBytes && len(s.free) < maxFree {
		s.free = append(s.free, c)
	}
}

// flush writes queued commits, one group at a time, until the queue is empty.
func (s *Store) flush() {
	for {
		s.wmu.Lock()
		group := s.queue
		s.queue = nil
		if len(group) == 0 {
			s.flushing = false
			s.wmu.Unlock()
			return
		}
		s.wmu.Unlock()
		err := s.write(group)
		s.wmu.Lock()
		s.finished(group)
		s.wmu.Unlock()
		for _, c := range group {
			c.done <- err // c is its caller's again
		}
	}
}

// write appends a group of commits to the newest segment with one write and
// one fsync, then indexes them. On failure the segment is cut back, so no
// partial frame stays in the middle of the log.
func (s *Store) write(group []*commit) error {
	size := 0
	for _, c := range group {
		size += len(c.frames)
	}
	seg, err := s.active(int64(size))
	if err != nil {
		return err
	}
	buf := group[0].frames
	if len(group) > 1 {
		s.group = s.group[:0]
		for _, c := range group {
			s.group = append(s.group, c.frames...)
		}
		buf = s.group
		if cap(s.group) > maxFreeBytes {
			s.group = nil
		}
	}
	base := seg.size
	if _, err = seg.f.WriteAt(buf, base); err == nil {
		err = seg.f.Sync()
	}
	if err != nil {
		if terr := seg.f.Truncate(base); terr != nil {
			s.log.Error("embedded store: cutting back a failed write failed; Open will truncate it", "err", terr)
		}
		return fmt.Errorf("embedded store: writing spend records: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seg.size = base + int64(size)
	off := uint32(base)
	for _, c := range group {
		s.apply(c, seg, off)
		off += uint32(len(c.frames))
	}
	return nil
}

// apply indexes and counts the frames of a commit written at off in seg,
// decoding them again from its buffer (which allocates nothing) rather than
// keeping what encoding them knew. Caller holds mu.
func (s *Store) apply(c *commit, seg *segment, off uint32) {
	var h scanned
	for p := c.frames; len(p) > 0; {
		n := binary.BigEndian.Uint32(p)
		payload := p[frameHead : frameHead+n]
		decodeHead(payload, &h) // it encoded them: they decode
		r := rec{start: h.start, seg: seg.num, off: off + frameHead, size: n}
		seg.maxStart = max(seg.maxStart, r.start)
		if s.idx.add(r, h.id, h.terms.all()) {
			s.count(&h)
		}
		p, off = p[frameHead+n:], off+frameHead+n
	}
}

// active returns the segment to append n bytes to, starting a new one when
// there is none yet or the newest would pass SegmentBytes.
func (s *Store) active(n int64) (*segment, error) {
	s.mu.RLock()
	var seg *segment
	if len(s.segs) > 0 {
		seg = s.segs[len(s.segs)-1]
	}
	s.mu.RUnlock()
	num := uint32(1)
	if seg != nil {
		if seg.size == int64(len(segMagic)) || seg.size+n <= s.o.SegmentBytes {
			return seg, nil
		}
		num = seg.num + 1
	}
	next, err := createSegment(s.dir, num)
	if err != nil {
		return nil, fmt.Errorf("embedded store: new segment: %w", err)
	}
	s.mu.Lock()
	s.segs = append(s.segs, next)
	s.mu.Unlock()
	return next, nil
}

// QuerySpend implements spend.Store: it walks the most selective index list
// (key, else user, else team, else model, else time) backwards from the upper bound, reading the
// records it passes; the other filters are checked on the records read.
func (s *Store) QuerySpend(_ context.Context, q spend.Query) (spend.Page, error) {
	q, err := q.Normalize()
	if err != nil {
		return spend.Page{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var page spend.Page
	var buf []byte
	lo, hi := q.Bounds()
	low, high := parseBound(lo), parseBound(hi)
	if q.RequestID != "" {
		i, ok := s.idx.find(q.RequestID)
		if !ok {
			return page, nil
		}
		if (low.set && !s.idx.atOrAfter(low, i)) || (high.set && s.idx.atOrAfter(high, i)) {
			return page, nil
		}
		rec, err := s.read(i, &buf)
		if err != nil {
			return page, err
		}
		if q.Matches(rec) {
			page.Records = append(page.Records, rec)
		}
		return page, nil
	}
	l, ok := s.idx.list(q)
	if !ok {
		return page, nil
	}
	from, to := s.idx.span(l, low, high)
	for k := to - 1; k >= from; k-- {
		rec, err := s.read(l[k], &buf)
		if err != nil {
			return spend.Page{}, err
		}
		if !q.Matches(rec) {
			continue
		}
		if len(page.Records) == q.Limit {
			page.NextCursor = spend.EncodeCursor(spend.SortKey(page.Records[q.Limit-1]))
			break
		}
		page.Records = append(page.Records, rec)
	}
	return page, nil
}

// read loads the record at position i from its segment. Caller holds mu (read).
func (s *Store) read(i int32, buf *[]byte) (spend.Record, error) {
	p, err := s.payload(i, buf)
	if err != nil {
		return spend.Record{}, err
	}
	var h scanned
	var out spend.Record
	if !decodeHead(p, &h) {
		return out, fmt.Errorf("embedded store: record %s: bad frame", s.idx.id(i))
	}
	if err := json.Unmarshal(h.json, &out); err != nil {
		return out, fmt.Errorf("embedded store: record %s: %w", s.idx.id(i), err)
	}
	return out, nil
}

// payload reads the payload of the record at position i into buf. Caller holds mu.
func (s *Store) payload(i int32, buf *[]byte) ([]byte, error) {
	r := &s.idx.recs[i]
	var seg *segment
	for i := len(s.segs) - 1; i >= 0; i-- {
		if s.segs[i].num == r.seg {
			seg = s.segs[i]
			break
		}
	}
	if seg == nil {
		return nil, fmt.Errorf("embedded store: record %s: segment %d is gone", s.idx.id(i), r.seg)
	}
	if cap(*buf) < int(r.size) {
		*buf = make([]byte, r.size)
	}
	p := (*buf)[:r.size]
	if _, err := seg.f.ReadAt(p, int64(r.off)); err != nil {
		return nil, fmt.Errorf("embedded store: record %s: %w", s.idx.id(i), err)
	}
	return p, nil
}

// prune forgets spend records that started before cutoff and deletes the
// sealed segments holding nothing newer.
func (s *Store) prune(cutoff time.Time) (int, error) {
	c := cutoff.UnixNano()
	s.mu.Lock()
	n := s.idx.dropBefore(c)
	if err := s.recount(c, s.tot.dropBefore(c)); err != nil {
		s.log.Error("embedded store: recounting spend totals after pruning failed; reports may count pruned records until a restart", "err", err)
	}
	var gone []*segment
	keep := s.segs[:0:0]
	for i, seg := range s.segs {
		if i < len(s.segs)-1 && seg.maxStart < c {
			gone = append(gone, seg)
			continue
		}
		keep = append(keep, seg)
	}
	s.segs = keep
	s.mu.Unlock()
	var first error
	for _, seg := range gone {
		seg.f.Close()
		if err := os.Remove(seg.path); err != nil && first == nil {
			first = err
		}
	}
	return n, first
}

// unixNanos is spend.SortKey's time: 0 for a zero or pre-1970 time.
func unixNanos(t time.Time) int64 {
	if t.IsZero() || t.UnixNano() < 0 {
		return 0
	}
	return t.UnixNano()
}
