package embedded

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// TestSetsSurviveRestart: set members (the key, user and team listings)
// written before Close are listed after reopening; removed ones are not.
func TestSetsSurviveRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"b", "a", "c"} {
		if err := s.SetAdd(ctx, "identity:keys", m); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetRemove(ctx, "identity:keys", "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.SetRange(ctx, "identity:keys", "", 10)
	if err != nil || fmt.Sprint(got) != "[a c]" {
		t.Fatalf("after restart: %v, %v; want [a c]", got, err)
	}
}
