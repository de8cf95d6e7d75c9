package firestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	fs "cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"
)

// Sets (identity's listings) are subcollections, one per set:
//
//	<prefix>_sets/<set>/m/<sha256(member)>  m (the member, bytes)
//
// so adding is one write that touches no other member, and listing is a
// query ordered by m (bytes order; the automatic single-field index serves
// it, no composite index), paged by the last member read.

func (st *Store) members(set string) *fs.CollectionRef {
	return st.hi.Collection(st.o.Collection + "_sets").Doc(docID(set)).Collection("m")
}

func memberDoc(member string) string {
	sum := sha256.Sum256([]byte(member))
	return hex.EncodeToString(sum[:])
}

// SetAdd adds member to set with one write.
func (st *Store) SetAdd(ctx context.Context, set, member string) error {
	if _, err := st.members(set).Doc(memberDoc(member)).Set(ctx, map[string]any{"m": []byte(member)}); err != nil {
		return fmt.Errorf("firestore store: set add: %w", err)
	}
	return nil
}

// SetRemove removes member from set with one delete.
func (st *Store) SetRemove(ctx context.Context, set, member string) error {
	if _, err := st.members(set).Doc(memberDoc(member)).Delete(ctx); err != nil {
		return fmt.Errorf("firestore store: set remove: %w", err)
	}
	return nil
}

// SetRange queries up to limit members after after.
func (st *Store) SetRange(ctx context.Context, set, after string, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	q := st.members(set).Where("m", ">", []byte(after)).OrderBy("m", fs.Asc).Limit(limit)
	it := q.Documents(ctx)
	defer it.Stop()
	var out []string
	for {
		d, err := it.Next()
		if err == iterator.Done {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("firestore store: set range: %w", err)
		}
		m, _ := d.Data()["m"].([]byte)
		out = append(out, string(m))
	}
}
