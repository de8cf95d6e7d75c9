package selector

import (
	"context"
	"strings"
	"testing"
)

// TestNotInBuild: a store left out of the build fails New at start with an
// error naming the store, the tag, how to build with it and what the build has.
func TestNotInBuild(t *testing.T) {
	_, err := notInBuild(Firestore, TagNoFirestore)(context.Background(), params{})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`state_store "firestore" is not in this build`, "-tags nofirestore",
		"make image CLOUDRUN_STORE=firestore", "make lambda LAMBDA_STORE=firestore", "--build-arg CLOUDRUN_STORE=firestore", "memory, embedded"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// TestAvailable lists every store in a build made without tags.
func TestAvailable(t *testing.T) {
	want := "memory, embedded"
	for _, b := range []struct {
		name string
		in   bool
	}{{DynamoDB, hasDynamoDB}, {Firestore, hasFirestore}, {Redis, hasRedis}} {
		if b.in {
			want += ", " + b.name
		}
	}
	if got := Available(); got != want {
		t.Errorf("Available() = %q, want %q", got, want)
	}
	if _, ok := backends[DynamoDB]; !ok {
		t.Error("no opener for dynamodb")
	}
}
