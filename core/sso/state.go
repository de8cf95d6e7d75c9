package sso

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/claude-gateway/claude-gateway/core/router"
)

// Store layout: every name carries the hex SHA-256 of the secret it is
// about, never the secret.
const (
	kDevice      = "sso:dc:"  // device code -> deviceState
	kDeviceClaim = "sso:dcu:" // device code redeemed (counter, limit 1)
	kDevicePoll  = "sso:dcp:" // device code polled in this interval bucket
	kUserCode    = "sso:uc:"  // user code -> device code hash
	kLogin       = "sso:st:"  // OAuth state -> loginState
	kLoginClaim  = "sso:stu:" // state used (counter, limit 1)
	kAccess      = "sso:at:"  // access token -> Session
	kRefresh     = "sso:rt:"  // refresh token -> Session
	kRefreshUsed = "sso:rtu:" // refresh token used (counter, limit 1)
	kFamily      = "sso:fam:" // sign-in family revoked (reuse detected, sign-out)
	kUserRevoked = "sso:usr:" // user deprovisioned at (RFC 3339)
	kVerifyIP    = "sso:ip:"  // verification attempts per client IP and minute
)

// userCodeAlphabet is RFC 8628 §6.1's base-20 set: consonants only, no
// vowels (no words) and none that look alike.
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// Token prefixes say which principal source a bearer belongs to.
const (
	AccessPrefix  = "cgwat."
	RefreshPrefix = "cgwrt."
)

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// randomToken is n random bytes, URL-safe.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newUserCode is XXXX-XXXX over the base-20 alphabet: 34.5 bits, enough
// with the per-IP attempt limit and the device code's short life (§5.1).
func newUserCode() string {
	var b [8]byte
	out := make([]byte, 0, 9)
	for i := 0; i < 8; {
		_, _ = rand.Read(b[:])
		for _, c := range b {
			if c >= 240 { // 240 = 12*20: reject to keep the draw uniform
				continue
			}
			if i == 4 {
				out = append(out, '-')
			}
			out = append(out, userCodeAlphabet[int(c)%20])
			if i++; i == 8 {
				break
			}
		}
	}
	return string(out)
}

// normalizeUserCode accepts what people type: any case, spaces, no dash.
func normalizeUserCode(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		if strings.ContainsRune(userCodeAlphabet, r) {
			b.WriteRune(r)
		}
	}
	if b.Len() != 8 {
		return ""
	}
	v := b.String()
	return v[:4] + "-" + v[4:]
}

func putJSON(ctx context.Context, st router.Store, name string, v any, expires time.Time) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return st.Put(ctx, name, string(b), expires)
}

func decode(e router.Entry, v any) bool {
	if !e.Found() || e.Value == "" || e.Value == "-" {
		return false
	}
	return json.Unmarshal([]byte(e.Value), v) == nil
}

// claim atomically marks name used; exactly one caller across all
// instances gets true.
func claim(ctx context.Context, st router.Store, name string, expires time.Time) (bool, error) {
	_, ok, err := st.Incr(ctx, name, 1, 1, expires)
	if err != nil {
		return false, fmt.Errorf("claim: %w", err)
	}
	return ok, nil
}
