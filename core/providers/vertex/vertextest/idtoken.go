package vertextest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// ServiceAccountID is the fake service account's unique id: client_id in
// ServiceAccountJSON, and sub and azp of the ID tokens the metadata server
// issues (what an AWS trust policy names as accounts.google.com:sub).
const ServiceAccountID = "100000000000000000001"

// googleIssuer is the iss of Google-signed ID tokens.
const googleIssuer = "https://accounts.google.com"

// googleKey is the fake's stand-in for Google's ID token signing key (not
// the service account's own key: Google signs ID tokens itself).
func (s *Server) googleKey() (*rsa.PrivateKey, string) {
	s.idKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		s.idKey, s.idKeyID = k, randHex(20)
	})
	return s.idKey, s.idKeyID
}

// serveIdentity answers instance/service-accounts/default/identity as the
// metadata server does: an RS256 ID token for the service account with the
// requested audience, valid for one hour.
func (s *Server) serveIdentity(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	aud := q.Get("audience")
	if aud == "" {
		http.Error(w, "non-empty audience parameter required", http.StatusBadRequest)
		return
	}
	now := time.Now()
	claims := map[string]any{
		"iss": googleIssuer, "aud": aud, "azp": ServiceAccountID, "sub": ServiceAccountID,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	if q.Get("format") == "full" {
		claims["email"], claims["email_verified"] = s.opts.ClientEmail, true
	}
	key, kid := s.googleKey()
	tok := signJWT(key, kid, claims)
	s.mu.Lock()
	s.idAudiences = append(s.idAudiences, aud)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprint(w, tok)
}

// IDTokenAudiences returns the audience of each ID token the metadata server issued.
func (s *Server) IDTokenAudiences() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.idAudiences)
}

// VerifyIDToken checks an ID token as a relying party (AWS STS) does: the
// RS256 signature against the key the metadata server signs with, the
// issuer, the audience and the validity window. It returns the claims.
func (s *Server) VerifyIDToken(token, audience string) (map[string]any, error) {
	key, kid := s.googleKey()
	claims, err := verifyRS256(token, &key.PublicKey, kid)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	iat, _ := claims["iat"].(float64)
	exp, _ := claims["exp"].(float64)
	switch {
	case claims["iss"] != googleIssuer:
		return nil, fmt.Errorf("issuer %v", claims["iss"])
	case claims["aud"] != audience:
		return nil, fmt.Errorf("audience %v, want %q", claims["aud"], audience)
	case time.Unix(int64(iat), 0).After(now.Add(5 * time.Minute)):
		return nil, errors.New("token issued in the future")
	case !time.Unix(int64(exp), 0).After(now):
		return nil, errors.New("token expired")
	}
	return claims, nil
}

// signJWT returns an RS256 JWT of claims.
func signJWT(key *rsa.PrivateKey, kid string, claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signed := enc(map[string]string{"alg": "RS256", "typ": "JWT", "kid": kid}) + "." + enc(claims)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}
