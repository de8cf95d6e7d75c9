package memory_test

import (
	"testing"

	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/spend"
	"github.com/claude-gateway/claude-gateway/core/store/memory"
	"github.com/claude-gateway/claude-gateway/core/store/storetest"
)

func open(testing.TB) (router.Store, spend.Store) {
	return memory.New(nil), memory.NewSpendStore()
}

func TestConformance(t *testing.T) { storetest.Run(t, open) }

func BenchmarkStore(b *testing.B) { storetest.Bench(b, open) }
