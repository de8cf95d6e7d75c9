//go:build !nofirestore

package selector

import (
	"context"

	"github.com/claude-gateway/claude-gateway/core/store/firestore"
)

// hasFirestore says whether this build includes the firestore store.
const hasFirestore = true

func openFirestore(ctx context.Context, p params) (backend, error) {
	s, err := firestore.Open(ctx, firestore.Options{
		ProjectID:    p.env("GATEWAY_STATE_PROJECT", "GOOGLE_CLOUD_PROJECT"),
		DatabaseID:   p.env("GATEWAY_FIRESTORE_DATABASE"),
		Collection:   first(p.env("GATEWAY_STATE_COLLECTION"), p.cfg.General.StateCollection, DefaultCollection),
		EmulatorHost: p.env("FIRESTORE_EMULATOR_HOST"),
		Logger:       p.log,
		Retention:    p.retention,
	})
	if err != nil {
		return backend{}, err
	}
	return backend{store: s, spend: s, close: s.Close}, nil
}
