package embedded

import (
	"encoding/binary"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/claude-gateway/claude-gateway/core/spend"
)

// The report fields of a v2 payload: what the totals (totals.go) count of a
// record, so Open rebuilds them from the frame heads without decoding JSON:
//
//	[flags u8][model group][deployment][provider]{[key hash]}{[user]}{[team]}
//	[input][output][cache creation][cache read][status][ttft ms][cost f64]
//
// Strings are [uvarint length][bytes], numbers zigzag varints, the cost
// eight big-endian bytes. Each string is the value the record's JSON reads
// back as (invalid UTF-8 bytes become U+FFFD), so totals group records
// exactly as the records read back from the log group. The key hash, user
// and team are left out when their index term (see terms) holds that very
// value (always for the key; for valid UTF-8 users and teams): flags bits
// 0, 1, 2 say so.
const (
	fromKeyTerm  = 1 << 0
	fromUserTerm = 1 << 1
	fromTeamTerm = 1 << 2
)

// dims are the groupings the totals keep apart.
const (
	dimModelGroup = iota
	dimDeployment
	dimProvider
	dimKey
	dimUser
	dimTeam
	numDims
)

// fact is one record as the totals count it.
type fact struct {
	dims                [numDims][]byte // alias the payload or the record
	in, out, cacheW, cr int64
	status, ttft        int64
	cost                float64
}

// appendReport appends r's report fields.
func appendReport(dst []byte, r *spend.Record) []byte {
	flags := byte(fromKeyTerm) // the key's term is its JSON form
	if utf8.ValidString(r.UserID) {
		flags |= fromUserTerm
	}
	if utf8.ValidString(r.TeamID) {
		flags |= fromTeamTerm
	}
	dst = append(dst, flags)
	for _, v := range [...]string{r.ModelGroup, r.DeploymentID, r.Provider} {
		dst = appendString(dst, jsonForm(v))
	}
	for i, v := range [...]string{r.KeyHash, r.UserID, r.TeamID} {
		if flags&(1<<i) == 0 {
			dst = appendString(dst, jsonForm(v))
		}
	}
	for _, n := range [...]int64{r.InputTokens, r.OutputTokens, r.CacheCreationInputTokens, r.CacheReadInputTokens, int64(r.Status), r.TTFTMillis} {
		dst = binary.AppendVarint(dst, n)
	}
	return binary.BigEndian.AppendUint64(dst, math.Float64bits(jsonCost(r.Cost)))
}

// reportLen is the length of the report fields at the start of p, or -1.
func reportLen(p []byte) int {
	if len(p) < 1 {
		return -1
	}
	at := 1
	strs := 3
	for i := range 3 {
		if p[0]&(1<<i) == 0 {
			strs++
		}
	}
	for range strs {
		n, k := binary.Uvarint(p[at:])
		if k <= 0 || n > uint64(len(p)-at-k) {
			return -1
		}
		at += k + int(n)
	}
	for range 6 {
		_, k := binary.Varint(p[at:])
		if k <= 0 {
			return -1
		}
		at += k
	}
	if len(p)-at < 8 {
		return -1
	}
	return at + 8
}

// parseReport reads report fields decodeHead found (reportLen checked
// them); the key hash, user and team come from terms when flagged so.
func parseReport(terms [][]byte, p []byte) fact {
	var f fact
	flags := p[0]
	p = p[1:]
	kinds := [...]byte{dimKey: 'k', dimUser: 'u', dimTeam: 't'}
	for i := range numDims {
		if i >= dimKey && flags&(1<<(i-dimKey)) != 0 {
			f.dims[i] = termValue(terms, kinds[i])
			continue
		}
		f.dims[i], p, _ = uvarintBytes(p)
	}
	for _, dst := range [...]*int64{&f.in, &f.out, &f.cacheW, &f.cr, &f.status, &f.ttft} {
		n, k := binary.Varint(p)
		*dst, p = n, p[k:]
	}
	f.cost = math.Float64frombits(binary.BigEndian.Uint64(p))
	return f
}

// termValue is the value of the record's term of this kind (nil if none).
func termValue(terms [][]byte, kind byte) []byte {
	for _, t := range terms {
		if t[0] == kind {
			return t[1:]
		}
	}
	return nil
}

// factOf is what a v1 payload's record (read back from its JSON, so every
// string already is in its JSON form) counts as.
func factOf(r spend.Record) fact {
	f := fact{in: r.InputTokens, out: r.OutputTokens, cacheW: r.CacheCreationInputTokens, cr: r.CacheReadInputTokens,
		status: int64(r.Status), ttft: r.TTFTMillis, cost: r.Cost}
	for i, v := range [...]string{r.ModelGroup, r.DeploymentID, r.Provider, r.KeyHash, r.UserID, r.TeamID} {
		f.dims[i] = []byte(v)
	}
	return f
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// jsonForm is s as spend.AppendJSON's output reads back: each byte of
// invalid UTF-8 becomes U+FFFD.
func jsonForm(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// jsonCost is the cost as spend.AppendJSON writes it (JSON has no NaN or Inf).
func jsonCost(c float64) float64 {
	if math.IsNaN(c) || math.IsInf(c, 0) {
		return 0
	}
	return c
}
