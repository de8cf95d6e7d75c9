package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/identity"
	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/spend"
)

// testIdentityKeys: key documents written, listed, updated and deleted
// through the store; a deleted key reads as unknown.
func testIdentityKeys(t *testing.T, s router.Store, _ spend.Store) {
	ctx := ctxT(t)
	repo := identity.Repo{Store: s}
	var tokens []string
	for i := range 5 {
		k := &identity.Key{Token: identity.HashKey(fmt.Sprintf("sk-conformance-%d", i)), KeyAlias: fmt.Sprint("dev-", i), Models: []string{"claude-*"}}
		if err := repo.Put(ctx, k); err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, k.Token)
	}
	got, err := repo.Tokens(ctx)
	if err != nil || fmt.Sprint(got) != fmt.Sprint(tokens) {
		t.Fatalf("Tokens = %v, %v; want %v", got, err, tokens)
	}
	if err := repo.Delete(ctx, tokens[2]); err != nil {
		t.Fatal(err)
	}
	keys, err := repo.GetMany(ctx, tokens)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if (k == nil) != (i == 2) || (k != nil && k.KeyAlias != fmt.Sprint("dev-", i)) {
			t.Fatalf("GetMany[%d] = %+v after deleting 2", i, k)
		}
	}
	if got, _ := repo.Tokens(ctx); len(got) != 4 {
		t.Fatalf("Tokens after delete = %v", got)
	}
}

// testIdentityBudgetRace: 50 goroutines charge one key's budget window at
// once; every charge lands exactly once and a fresh instance sees the sum.
func testIdentityBudgetRace(t *testing.T, s router.Store, _ spend.Store) {
	ctx := ctxT(t)
	max := 100.0
	a := identity.NewGatekeeper(s, identity.Options{})
	secret := identity.NewSecret()
	if err := a.Repo().Put(ctx, &identity.Key{Token: identity.HashKey(secret), MaxBudget: &max, BudgetDuration: "30d"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, e := a.Admit(ctx, secret)
			if e != nil {
				t.Error(e)
				return
			}
			if e := c.Begin(ctx, "m"); e != nil {
				t.Error(e)
				return
			}
			c.End(0.5, 1)
		}()
	}
	wg.Wait()
	a.Wait()
	b := identity.NewGatekeeper(s, identity.Options{})
	c, e := b.Admit(context.Background(), secret)
	if e != nil {
		t.Fatal(e)
	}
	var spendHdr string
	c.Headers(func(k, v string) {
		if k == "x-litellm-key-spend" {
			spendHdr = v
		}
	})
	if spendHdr != "25.000000" {
		t.Fatalf("spend seen by a fresh instance = %s, want 25.000000 (50 x 0.5)", spendHdr)
	}
}
