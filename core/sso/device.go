package sso

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// maxFormBytes caps the OAuth endpoints' form bodies.
const maxFormBytes = 16 << 10

// GatewayProtocolVersion is the discovery document's gateway_protocol_version
// (the value Claude Code's own gateway advertises).
const GatewayProtocolVersion = 1

// deviceState is a device code's record. Status moves pending -> approved
// or denied; redemption is a separate single-use claim.
type deviceState struct {
	UserCode string    `json:"uc"` // hash
	Expires  time.Time `json:"exp"`
	Interval int       `json:"iv"`
	Status   string    `json:"st"`
	Session  *Session  `json:"s,omitempty"`
	Surface  string    `json:"surface,omitempty"`
}

const (
	statusPending  = "pending"
	statusApproved = "approved"
	statusDenied   = "denied"
)

// handleMetadata serves RFC 8414 metadata. Claude Code reads
// device_authorization_endpoint, token_endpoint and revocation_endpoint (each
// used only if same-origin with the base URL); authorization_endpoint is
// absent on purpose: the browser never signs in at the gateway directly.
func (s *Service) handleMetadata(w http.ResponseWriter, r *http.Request) {
	base := s.cfg.PublicURL
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                     base,
		"device_authorization_endpoint":              base + PathDevice,
		"token_endpoint":                             base + PathToken,
		"revocation_endpoint":                        base + PathRevoke,
		"grant_types_supported":                      []string{grantDevice, "refresh_token"},
		"response_types_supported":                   []string{},
		"token_endpoint_auth_methods_supported":      []string{"none"},
		"revocation_endpoint_auth_methods_supported": []string{"none"},
		"scopes_supported":                           []string{"openid", "profile", "email"},
		"gateway_protocol_version":                   GatewayProtocolVersion,
	})
}

const grantDevice = "urn:ietf:params:oauth:grant-type:device_code"

// handleDeviceAuthorization is RFC 8628 §3.2. Claude Code sends no
// client_id or scope (only surface=claude_code); unknown parameters are
// ignored, as RFC 6749 §3.2 requires.
func (s *Service) handleDeviceAuthorization(w http.ResponseWriter, r *http.Request) {
	if !parseForm(w, r) {
		return
	}
	now := s.now()
	deviceCode := randomToken(32) // 256 bits
	userCode := newUserCode()
	dc, uc := hashHex(deviceCode), hashHex(userCode)
	exp := now.Add(s.cfg.DeviceCodeTTL)
	iv := int(s.cfg.PollInterval / time.Second)
	st := deviceState{UserCode: uc, Expires: exp, Interval: iv, Status: statusPending, Surface: trunc(r.PostForm.Get("surface"), 64)}
	// Kept an hour past expiry so late polls hear expired_token, not invalid_grant.
	if err := putJSON(r.Context(), s.store, kDevice+dc, st, exp.Add(time.Hour)); err != nil {
		s.oauthUnavailable(w, err)
		return
	}
	if err := s.store.Put(r.Context(), kUserCode+uc, dc, exp); err != nil {
		s.oauthUnavailable(w, err)
		return
	}
	verify := s.cfg.PublicURL + PathVerify
	w.Header().Set("Cache-Control", "no-store")
	body := map[string]any{
		"device_code":               deviceCode,
		"user_code":                 userCode,
		"verification_uri":          verify,
		"verification_uri_complete": verify + "?user_code=" + url.QueryEscape(userCode),
		"expires_in":                int(s.cfg.DeviceCodeTTL / time.Second),
		"interval":                  iv,
	}
	if s.cfg.LoginNotice != "" {
		body["login_notice"] = s.cfg.LoginNotice // shown beside the code
	}
	writeJSON(w, http.StatusOK, body)
}

// handleToken serves both grants, form-encoded.
func (s *Service) handleToken(w http.ResponseWriter, r *http.Request) {
	if !parseForm(w, r) {
		return
	}
	switch r.PostForm.Get("grant_type") {
	case grantDevice:
		s.deviceGrant(w, r)
	case "refresh_token":
		s.refreshGrant(w, r)
	case "":
		oauthError(w, http.StatusBadRequest, "invalid_request", "grant_type is required")
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "supported: "+grantDevice+", refresh_token")
	}
}

// deviceGrant answers a poll (RFC 8628 §3.5): authorization_pending until
// the browser approves, slow_down when polled faster than the interval,
// access_denied, expired_token; tokens exactly once.
func (s *Service) deviceGrant(w http.ResponseWriter, r *http.Request) {
	ctx, now := r.Context(), s.now()
	code := r.PostForm.Get("device_code")
	if code == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "device_code is required")
		return
	}
	dc := hashHex(code)
	es, err := s.store.Get(ctx, []string{kDevice + dc})
	if err != nil {
		s.oauthUnavailable(w, err)
		return
	}
	var st deviceState
	if !decode(es[0], &st) {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "unknown device_code")
		return
	}
	if !now.Before(st.Expires) {
		oauthError(w, http.StatusBadRequest, "expired_token", "the device code expired; run /login again")
		return
	}
	switch st.Status {
	case statusDenied:
		oauthError(w, http.StatusBadRequest, "access_denied", "the sign-in was refused")
		return
	case statusPending:
		width := int64(max(1, st.Interval-1))
		bucket := now.Unix() / width
		ok, err := claim(ctx, s.store, kDevicePoll+dc+":"+strconv.FormatInt(bucket, 10), now.Add(time.Duration(2*width)*time.Second))
		if err == nil && !ok {
			oauthError(w, http.StatusBadRequest, "slow_down", "polling faster than the interval")
			return
		}
		oauthError(w, http.StatusBadRequest, "authorization_pending", "waiting for the user to sign in")
		return
	}
	ok, err := claim(ctx, s.store, kDeviceClaim+dc, st.Expires.Add(time.Hour))
	if err != nil {
		s.oauthUnavailable(w, err)
		return
	}
	if !ok || st.Session == nil {
		// A second redemption: the code is spent (whoever replays it gets nothing).
		oauthError(w, http.StatusBadRequest, "invalid_grant", "the device code was already used")
		return
	}
	sess := *st.Session
	sess.Family = randomToken(16)
	sess.SignedIn = now
	sess.FamilyExpires = now.Add(s.cfg.RefreshTokenTTL)
	s.issue(w, r, &sess, true)
}

// parseForm reads a bounded form body; a JSON or other body is refused.
func parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "want an application/x-www-form-urlencoded body")
		return false
	}
	return true
}

// oauthError writes RFC 6749 §5.2's shape.
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func (s *Service) oauthUnavailable(w http.ResponseWriter, err error) {
	s.log.Error("sso state store unavailable", "error", err)
	w.Header().Set("Retry-After", "5")
	oauthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "state store unavailable")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
