package sso

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/claude-gateway/claude-gateway/core/config"
)

// Settings composes a user's managed-settings.json: sso.managed_settings
// first, then each of the user's groups' managed_settings in the groups'
// order (priority, then name). Objects merge key by key, recursively;
// arrays concatenate without duplicates (so permissions.deny and
// availableModels accumulate across groups); any other value is replaced by
// the later one. ok is false when no policy applies to the user at all.
func Settings(cfg *config.SSOSettings, groups []string) (settings map[string]any, ok bool) {
	out := map[string]any{}
	if cfg.ManagedSettings != nil {
		ok = true
		mergeInto(out, cfg.ManagedSettings)
	}
	for _, g := range cfg.Groups {
		if g.ManagedSettings != nil && slices.Contains(groups, g.Name) {
			ok = true
			mergeInto(out, g.ManagedSettings)
		}
	}
	return out, ok
}

func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		switch sv := v.(type) {
		case map[string]any:
			dv, isMap := dst[k].(map[string]any)
			if !isMap {
				dv = map[string]any{}
			}
			mergeInto(dv, sv)
			dst[k] = dv
		case []any:
			dv, _ := dst[k].([]any)
			merged := slices.Clone(dv)
			for _, x := range sv {
				if !containsJSON(merged, x) {
					merged = append(merged, x)
				}
			}
			dst[k] = merged
		default:
			dst[k] = v
		}
	}
}

func containsJSON(list []any, x any) bool {
	xb, _ := json.Marshal(x)
	for _, e := range list {
		if eb, _ := json.Marshal(e); bytes.Equal(eb, xb) {
			return true
		}
	}
	return false
}

// Checksum is the protocol's settings checksum: "sha256:" and the hex
// SHA-256 of the settings JSON with keys sorted at every level and no
// whitespace (what Claude Code computes for If-None-Match).
func Checksum(settings map[string]any) string {
	sum := sha256.Sum256(canonicalJSON(settings))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// canonicalJSON is JSON.stringify's output for sorted keys: encoding/json
// sorts map keys; HTML escaping is off (JavaScript does not escape <, >, &).
func canonicalJSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// handleSettings is GET /managed/settings (bearer): the wrapper
// {"uuid","checksum","settings"}, ETag = quoted checksum, 304 on a matching
// If-None-Match (and only then), 404 when no policy applies.
func (s *Service) handleSettings(w http.ResponseWriter, r *http.Request) {
	sess, e := s.Verify(r.Context(), bearer(r))
	if e != nil {
		writeAPIError(w, e)
		return
	}
	settings, ok := Settings(s.cfg, sess.Groups)
	if !ok {
		writeAPIError(w, &llm404)
		return
	}
	sum := Checksum(settings)
	etag := `"` + sum + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "private, no-cache")
	if inm := r.Header.Get("If-None-Match"); inm != "" && inm != "*" && etagMatch(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	idSum := sha256.Sum256([]byte("managed-settings\x00" + strings.Join(policyGroups(s.cfg, sess.Groups), "\x00")))
	writeJSON(w, http.StatusOK, map[string]any{"uuid": uuidOf(idSum[:16]), "checksum": sum, "settings": settings})
}

// policyGroups are the user's groups that carry managed settings, in merge order.
func policyGroups(cfg *config.SSOSettings, groups []string) []string {
	var out []string
	for _, g := range cfg.Groups {
		if g.ManagedSettings != nil && slices.Contains(groups, g.Name) {
			out = append(out, g.Name)
		}
	}
	return out
}

func etagMatch(header, etag string) bool {
	for _, part := range strings.Split(header, ",") {
		p := strings.TrimPrefix(strings.TrimSpace(part), "W/")
		if p == etag {
			return true
		}
	}
	return false
}

func uuidOf(b []byte) string {
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// bearer is the request's Authorization: Bearer token (or x-api-key).
func bearer(r *http.Request) string {
	a := r.Header.Get("Authorization")
	if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return r.Header.Get("x-api-key")
}
