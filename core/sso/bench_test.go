package sso

import (
	"context"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/identity"
	"github.com/claude-gateway/claude-gateway/core/store/memory"
)

// BenchmarkAdmit is the steady-state cost of an SSO bearer on a model
// route: the verified token from the in-process cache, then the user's and
// groups' policy callers (counters cached by identity.Principals).
func BenchmarkAdmit(b *testing.B) {
	r := newRig(b, nil)
	access, _ := r.login()
	st := memory.New(nil)
	r.svc.prin = identity.NewPrincipals(identity.NewGatekeeper(st, identity.Options{}))
	ctx := context.Background()
	if _, e := r.svc.Admit(ctx, access); e != nil {
		b.Fatal(e)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, e := r.svc.Admit(ctx, access); e != nil {
			b.Fatal(e)
		}
	}
}
