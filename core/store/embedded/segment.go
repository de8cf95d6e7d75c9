package embedded

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/claude-gateway/claude-gateway/core/spend"
)

// The spend log is a directory of segment files, spend-00000001.log and up,
// oldest first. A segment is segMagic, then frames appended in commit order:
//
//	[payload length u32][CRC-32C of payload u32][payload]
//
// and a payload is a record's index fields, its report fields, then the
// record as JSON:
//
//	[version u8][StartTime unix nanos i64][len][call id][term count u8]{[len][term]}[report][JSON]
//
// (lengths are uvarints; a term is a kind byte and a value, see terms; the
// report fields, see appendReport, are what the totals of totals.go count,
// so Open rebuilds them without decoding any JSON). Version 1 payloads,
// written before the report fields existed, have none: Open reads their
// JSON instead. Only
// the newest segment is appended to; every commit is fsynced before it is
// acknowledged, so a crash can only cut the newest segment's last frames,
// which Open finds by their length or CRC and truncates.
const (
	segMagic   = "cgspend1"
	segPrefix  = "spend-"
	segSuffix  = ".log"
	frameHead  = 8
	payloadV1  = 1 // no report fields
	payloadV2  = 2
	maxPayload = 16 << 20 // a record is a few hundred bytes; more is a cut or corrupt frame
)

// crcTable is made at first use: building it costs a cold start 0.2 ms
// even in a gateway on another store.
var crcTable = sync.OnceValue(func() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) })

// segment is one file of the log.
type segment struct {
	num  uint32
	path string
	f    *os.File
	size int64
	// maxStart is the newest StartTime (unix nanos) in the file: retention
	// deletes a sealed segment whose every record is older than the cutoff.
	maxStart int64
}

func segName(num uint32) string { return fmt.Sprintf("%s%08d%s", segPrefix, num, segSuffix) }

// listSegments returns the segment numbers in dir, ascending.
func listSegments(dir string) ([]uint32, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var nums []uint32
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, segPrefix) || !strings.HasSuffix(name, segSuffix) {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, segPrefix), segSuffix), 10, 32)
		if err != nil || n == 0 {
			continue
		}
		nums = append(nums, uint32(n))
	}
	sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
	return nums, nil
}

// createSegment makes an empty segment and makes its name durable.
func createSegment(dir string, num uint32) (*segment, error) {
	path := filepath.Join(dir, segName(num))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write([]byte(segMagic)); err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return &segment{num: num, path: path, f: f, size: int64(len(segMagic)), maxStart: -1 << 63}, nil
}

// scanned is one record found while reading a segment; its slices alias
// the payload it was decoded from.
type scanned struct {
	start int64
	id    []byte
	off   uint32 // of the payload
	size  uint32
	terms termList
	// report is the payload's report fields (nil in a v1 payload, which
	// has none), json the record as JSON.
	report, json []byte
}

// maxTerms bounds a record's terms: terms makes at most five.
const maxTerms = 8

// termList is a record's terms, held without an allocation.
type termList struct {
	n int
	t [maxTerms][]byte
}

func (l *termList) all() [][]byte { return l.t[:l.n] }

// errCut is a frame cut short or failing its CRC.
var errCut = errors.New("cut or corrupt frame")

// scanSegment reads every whole frame of the segment at path, calling fn
// for each. It returns the length of the valid prefix (where a cut frame,
// if any, starts) and errCut if the file goes on past it.
func scanSegment(f *os.File, fn func(*scanned)) (valid int64, err error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	r := bufio.NewReaderSize(f, 256<<10)
	magic := make([]byte, len(segMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != segMagic {
		return 0, errCut
	}
	off := int64(len(segMagic))
	var head [frameHead]byte
	var payload []byte
	var rec scanned
	for {
		if _, err := io.ReadFull(r, head[:]); err == io.EOF {
			return off, nil
		} else if err != nil {
			return off, errCut
		}
		n := binary.BigEndian.Uint32(head[:4])
		if n == 0 || n > maxPayload {
			return off, errCut
		}
		if cap(payload) < int(n) {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			return off, errCut
		}
		if crc32.Checksum(payload, crcTable()) != binary.BigEndian.Uint32(head[4:]) {
			return off, errCut
		}
		if !decodeHead(payload, &rec) {
			return off, errCut
		}
		rec.off, rec.size = uint32(off+frameHead), n
		fn(&rec)
		off += frameHead + int64(n)
	}
}

// The terms of a record are its index entries: 'm' + each model name it
// is found under (spend.ModelNames), 'k' + its key hash, 'u' + its user,
// 't' + its team. A payload holds them as [count u8]{[uvarint len][term]}.

// appendTerms appends r's terms, building no string unless a value is not
// valid UTF-8.
func appendTerms(dst []byte, r *spend.Record) []byte {
	at := len(dst)
	dst = append(dst, 0)
	n := byte(0)
	term := func(kind byte, v string) {
		dst = binary.AppendUvarint(dst, uint64(1+len(v)))
		dst = append(append(dst, kind), v...)
		n++
	}
	// Client-supplied names may not be UTF-8; index them as JSON stores
	// them (spend.ModelNames' rule).
	mg, rm := validUTF8(r.ModelGroup), validUTF8(r.RequestedModel)
	switch {
	case mg == "" && rm == "":
	case mg == "":
		term('m', rm)
	case rm == "" || rm == mg:
		term('m', mg)
	default:
		term('m', mg)
		term('m', rm)
	}
	// The key hash as the record's JSON reads it back, which QuerySpend
	// matches the query's against.
	if r.KeyHash != "" {
		term('k', jsonForm(r.KeyHash))
	}
	// Queries carry user and team ids as spend.Query.Normalize leaves them.
	if r.UserID != "" {
		term('u', validUTF8(r.UserID))
	}
	if r.TeamID != "" {
		term('t', validUTF8(r.TeamID))
	}
	dst[at] = n
	return dst
}

func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// appendFrame appends r's frame to dst.
func appendFrame(dst []byte, r *spend.Record, start int64) []byte {
	at := len(dst)
	dst = append(dst, make([]byte, frameHead)...)
	dst = append(dst, payloadV2)
	dst = binary.BigEndian.AppendUint64(dst, uint64(start))
	dst = binary.AppendUvarint(dst, uint64(len(r.CallID)))
	dst = append(dst, r.CallID...)
	dst = appendTerms(dst, r)
	dst = appendReport(dst, r)
	dst = spend.AppendJSON(dst, *r)
	payload := dst[at+frameHead:]
	binary.BigEndian.PutUint32(dst[at:], uint32(len(payload)))
	binary.BigEndian.PutUint32(dst[at+4:], crc32.Checksum(payload, crcTable()))
	return dst
}

// decodeHead reads a payload's index fields into s and, in a v2 payload,
// finds its report fields; the rest of a v1 payload is the record's JSON
// (s.json). Nothing is copied: s aliases p.
func decodeHead(p []byte, s *scanned) bool {
	if len(p) < 9 || (p[0] != payloadV1 && p[0] != payloadV2) {
		return false
	}
	v2 := p[0] == payloadV2
	s.start = int64(binary.BigEndian.Uint64(p[1:9]))
	p = p[9:]
	id, p, ok := uvarintBytes(p)
	if !ok || len(id) == 0 || len(p) < 1 {
		return false
	}
	s.id = id
	n := int(p[0])
	if n > maxTerms {
		return false
	}
	p = p[1:]
	s.terms.n = n
	for k := range n {
		var t []byte
		if t, p, ok = uvarintBytes(p); !ok || len(t) == 0 {
			return false
		}
		s.terms.t[k] = t
	}
	s.report, s.json = nil, nil
	if !v2 {
		s.json = p
		return true
	}
	n = reportLen(p)
	if n <= 0 {
		return false
	}
	s.report, s.json = p[:n:n], p[n:]
	return true
}

func uvarintBytes(p []byte) (b, rest []byte, ok bool) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)-k) {
		return nil, nil, false
	}
	return p[k : k+int(n)], p[k+int(n):], true
}
