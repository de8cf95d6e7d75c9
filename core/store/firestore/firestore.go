// Package firestore is the shared state store on Google Cloud Firestore
// (native mode), for gateways on Cloud Run (many instances at once).
//
// Three collections, named from a prefix (default "gateway"):
//
//	<prefix>_state  one document per counter or entry: n (count), v (value, bytes),
//	                exp (expiry, Unix ms), expireAt (timestamp, the TTL field)
//	<prefix>_spend  one document per call id: rec (the record as JSON),
//	                sk (spend.SortKey), models (group and requested model),
//	                api_key (key hash), user_id, team_id (the virtual key's owners),
//	                expireAt when a retention is set
//	<prefix>_sets   one document per set, whose subcollection m holds its
//	                members (sets.go: identity's key, user and team listings)
//
// Incr is one Commit with field transforms (increment n, minimum exp),
// whose transform results return the new count in the same round trip. A
// count over the limit is undone by a second increment (refusals only), so
// for delta 1 (requests per minute) exactly limit requests are admitted
// however many race. A stored but expired counter (TTL deletion lags) shows
// in the returned expiry and is reset with a read and a write conditioned on
// the document's update time, retried on conflict (PITFALLS #14: plain
// transactions stall under contention on the emulator).
//
// Firestore advises about one sustained write per second per document; a
// deployment's rpm window is one document, so very high request rates on
// one deployment hit that limit (contention errors, which the guard turns
// into fail-open). Counts and Get are one BatchGetDocuments; spend batches
// are one Commit per 500 records. The TTL policy on expireAt and the
// composite indexes for /spend/logs are in firestore.indexes.json.
package firestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	fs "cloud.google.com/go/firestore"
	vkit "cloud.google.com/go/firestore/apiv1"
	pb "cloud.google.com/go/firestore/apiv1/firestorepb"
	gax "github.com/googleapis/gax-go/v2"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/spend"
)

// Options configure a Store.
type Options struct {
	// ProjectID is the Google Cloud project ("" detects it from the environment).
	ProjectID string
	// DatabaseID is the Firestore database (default "(default)").
	DatabaseID string
	// Collection prefixes the collection names (default "gateway").
	Collection string
	// EmulatorHost (host:port) talks to the Firestore emulator instead.
	EmulatorHost string
	Logger       *slog.Logger
	// Retention sets expireAt on spend records (0: kept until deleted).
	Retention time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// ClientOptions are passed to both Firestore clients (credentials, endpoint).
	ClientOptions []option.ClientOption
}

// Store implements router.Store and spend.Store on Firestore.
type Store struct {
	hi    *fs.Client   // queries and batched reads
	lo    *vkit.Client // commits whose transform results we need
	conn  *grpc.ClientConn
	db    string // projects/<p>/databases/<d>
	state *fs.CollectionRef
	spend *fs.CollectionRef
	o     Options
}

var (
	_ router.Store = (*Store)(nil)
	_ spend.Store  = (*Store)(nil)
)

// Open connects (lazily: no calls are made) to Firestore or its emulator.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.DatabaseID == "" {
		o.DatabaseID = fs.DefaultDatabaseID
	}
	if o.Collection == "" {
		o.Collection = "gateway"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	opts := append([]option.ClientOption(nil), o.ClientOptions...)
	st := &Store{o: o}
	if o.EmulatorHost != "" {
		conn, err := grpc.NewClient(o.EmulatorHost,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithPerRPCCredentials(emulatorCreds{}))
		if err != nil {
			return nil, fmt.Errorf("firestore store: emulator %s: %w", o.EmulatorHost, err)
		}
		st.conn = conn
		opts = append(opts, option.WithGRPCConn(conn))
		if o.ProjectID == "" {
			o.ProjectID = "demo-gateway"
		}
	}
	project := o.ProjectID
	if project == "" {
		project = fs.DetectProjectID
	}
	hi, err := fs.NewClientWithDatabase(ctx, project, o.DatabaseID, opts...)
	if err != nil {
		st.closeConn()
		return nil, fmt.Errorf("firestore store: %w", err)
	}
	lo, err := vkit.NewClient(ctx, opts...)
	if err != nil {
		hi.Close()
		st.closeConn()
		return nil, fmt.Errorf("firestore store: %w", err)
	}
	st.hi, st.lo = hi, lo
	st.state = hi.Collection(o.Collection + "_state")
	st.spend = hi.Collection(o.Collection + "_spend")
	// ".../databases/<d>/documents/<collection>" names the database too.
	st.db, _, _ = strings.Cut(st.state.Path, "/documents/")
	return st, nil
}

// emulatorCreds is what the emulator takes as admin credentials.
type emulatorCreds struct{}

func (emulatorCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer owner"}, nil
}
func (emulatorCreds) RequireTransportSecurity() bool { return false }

func (st *Store) closeConn() {
	if st.conn != nil {
		st.conn.Close()
	}
}

// Close releases the clients.
func (st *Store) Close() error {
	err := errors.Join(st.hi.Close(), st.lo.Close())
	st.closeConn()
	return err
}

// docID makes a valid document id from any key: ids cannot contain "/", be
// "." or "..", match __.*__ or exceed 1500 bytes.
func docID(key string) string {
	id := "k:" + strings.NewReplacer("%", "%25", "/", "%2F").Replace(key)
	if len(id) > 1000 || !utf8.ValidString(key) {
		sum := sha256.Sum256([]byte(key))
		id = "h:" + hex.EncodeToString(sum[:])
	}
	return id
}

func (st *Store) stateDoc(key string) *fs.DocumentRef { return st.state.Doc(docID(key)) }

func intValue(v int64) *pb.Value {
	return &pb.Value{ValueType: &pb.Value_IntegerValue{IntegerValue: v}}
}
func strValue(v string) *pb.Value {
	return &pb.Value{ValueType: &pb.Value_StringValue{StringValue: v}}
}
func tsValue(t time.Time) *pb.Value {
	return &pb.Value{ValueType: &pb.Value_TimestampValue{TimestampValue: timestamppb.New(t)}}
}

// commitIncr adds delta to n and lowers exp to expires (if it is later),
// returning the new count and exp from the transform results.
func (st *Store) commitIncr(ctx context.Context, key string, delta int64, expires time.Time) (n, exp int64, err error) {
	w := &pb.Write{
		Operation: &pb.Write_Update{Update: &pb.Document{
			Name:   st.stateDoc(key).Path,
			Fields: map[string]*pb.Value{"expireAt": tsValue(expires)},
		}},
		UpdateMask: &pb.DocumentMask{FieldPaths: []string{"expireAt"}},
		UpdateTransforms: []*pb.DocumentTransform_FieldTransform{
			{FieldPath: "n", TransformType: &pb.DocumentTransform_FieldTransform_Increment{Increment: intValue(delta)}},
			{FieldPath: "exp", TransformType: &pb.DocumentTransform_FieldTransform_Minimum{Minimum: intValue(expires.UnixMilli())}},
		},
	}
	resp, err := st.lo.Commit(ctx, &pb.CommitRequest{Database: st.db, Writes: []*pb.Write{w}}, incrRetry)
	if err != nil {
		return 0, 0, fmt.Errorf("firestore store: incr: %w", err)
	}
	if len(resp.WriteResults) != 1 || len(resp.WriteResults[0].TransformResults) != 2 {
		return 0, 0, errors.New("firestore store: incr: commit returned no transform results")
	}
	tr := resp.WriteResults[0].TransformResults
	return numberOf(tr[0]), numberOf(tr[1]), nil
}

// incrRetry retries an increment only where Firestore says it was not
// applied: Aborted (lock contention on a hot document, PITFALLS #14) and
// ResourceExhausted. The client's default also retries Unavailable, which
// could apply an increment twice. The caller's deadline bounds the retries.
var incrRetry = gax.WithRetry(func() gax.Retryer {
	return gax.OnCodes([]codes.Code{codes.Aborted, codes.ResourceExhausted},
		gax.Backoff{Initial: 5 * time.Millisecond, Max: 200 * time.Millisecond, Multiplier: 1.5})
})

func numberOf(v *pb.Value) int64 {
	switch x := v.GetValueType().(type) {
	case *pb.Value_IntegerValue:
		return x.IntegerValue
	case *pb.Value_DoubleValue:
		return int64(math.Round(x.DoubleValue))
	}
	return 0
}

// Incr implements router.Store: one Commit when admitted.
func (st *Store) Incr(ctx context.Context, key string, delta, limit int64, expires time.Time) (int64, bool, error) {
	if limit > 0 && delta > limit {
		c, err := st.Counts(ctx, []string{key})
		if err != nil {
			return 0, false, err
		}
		return c[0], false, nil
	}
	for attempt := 0; attempt < 10; attempt++ {
		v, exp, err := st.commitIncr(ctx, key, delta, expires)
		if err != nil {
			return 0, false, err
		}
		if exp <= st.o.Now().UnixMilli() {
			// The document held an expired window: our increment landed on
			// it. Reset it (or see that someone else did, which discarded
			// our increment, and go round again).
			done, v, err := st.resetExpired(ctx, key, delta, expires)
			if err != nil {
				return 0, false, err
			}
			if done {
				return v, true, nil
			}
			continue
		}
		if limit > 0 && v > limit {
			// Over the limit: take our increment back. Only refusals pay
			// this second round trip.
			if _, _, err := st.commitIncr(ctx, key, -delta, expires); err != nil {
				return 0, false, err
			}
			return v - delta, false, nil
		}
		return v, true, nil
	}
	return 0, false, errors.New("firestore store: incr: too much contention on " + key)
}

// resetExpired sets an expired counter document to delta, conditioned on
// its update time. done is false if the document is live again (someone
// else reset it; the caller's increment was overwritten and must be redone).
func (st *Store) resetExpired(ctx context.Context, key string, delta int64, expires time.Time) (done bool, v int64, err error) {
	ref := st.stateDoc(key)
	for attempt := 0; attempt < 10; attempt++ {
		snap, err := ref.Get(ctx)
		if status.Code(err) == codes.NotFound {
			return false, 0, nil // deleted by TTL meanwhile: increment afresh
		}
		if err != nil {
			return false, 0, fmt.Errorf("firestore store: incr: %w", err)
		}
		if exp, _ := snap.DataAt("exp"); toInt(exp) > st.o.Now().UnixMilli() {
			return false, 0, nil
		}
		_, err = ref.Update(ctx, []fs.Update{
			{Path: "n", Value: delta},
			{Path: "exp", Value: expires.UnixMilli()},
			{Path: "expireAt", Value: expires},
		}, fs.LastUpdateTime(snap.UpdateTime))
		if err == nil {
			return true, delta, nil
		}
		if c := status.Code(err); c != codes.FailedPrecondition && c != codes.Aborted {
			return false, 0, fmt.Errorf("firestore store: incr: %w", err)
		}
	}
	return false, 0, errors.New("firestore store: incr: too much contention resetting " + key)
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case float64:
		return int64(x)
	}
	return 0
}

// getAll reads the state documents at keys in one BatchGetDocuments.
func (st *Store) getAll(ctx context.Context, keys []string) (map[string]map[string]any, error) {
	refs := make([]*fs.DocumentRef, 0, len(keys))
	seen := map[string]bool{}
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			refs = append(refs, st.stateDoc(k))
		}
	}
	snaps, err := st.hi.GetAll(ctx, refs)
	if err != nil {
		return nil, fmt.Errorf("firestore store: get: %w", err)
	}
	out := make(map[string]map[string]any, len(snaps))
	now := st.o.Now().UnixMilli()
	for _, s := range snaps {
		if !s.Exists() {
			continue
		}
		d := s.Data()
		if toInt(d["exp"]) <= now {
			continue
		}
		out[s.Ref.ID] = d
	}
	return out, nil
}

// Counts implements router.Store.
func (st *Store) Counts(ctx context.Context, keys []string) ([]int64, error) {
	out := make([]int64, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	docs, err := st.getAll(ctx, keys)
	if err != nil {
		return nil, err
	}
	for i, k := range keys {
		out[i] = toInt(docs[docID(k)]["n"])
	}
	return out, nil
}

// Put implements router.Store with one write.
func (st *Store) Put(ctx context.Context, key, value string, expires time.Time) error {
	_, err := st.stateDoc(key).Set(ctx, map[string]any{
		"v": []byte(value), "exp": expires.UnixMilli(), "expireAt": expires, // bytes: values need not be UTF-8
	})
	if err != nil {
		return fmt.Errorf("firestore store: put: %w", err)
	}
	return nil
}

// Get implements router.Store.
func (st *Store) Get(ctx context.Context, keys []string) ([]router.Entry, error) {
	out := make([]router.Entry, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	docs, err := st.getAll(ctx, keys)
	if err != nil {
		return nil, err
	}
	for i, k := range keys {
		if d, ok := docs[docID(k)]; ok {
			v, _ := d["v"].([]byte)
			out[i] = router.Entry{Value: string(v), Expires: time.UnixMilli(toInt(d["exp"]))}
		}
	}
	return out, nil
}

// PutSpend implements spend.Store: one Commit per 500 records, each document
// written whole at its call id, so a retry leaves one copy.
func (st *Store) PutSpend(ctx context.Context, recs []spend.Record) error {
	recs = spend.Dedupe(recs)
	for i := 0; i < len(recs); i += 500 {
		chunk := recs[i:min(i+500, len(recs))]
		writes := make([]*pb.Write, 0, len(chunk))
		for _, r := range chunk {
			js, err := json.Marshal(r)
			if err != nil {
				return fmt.Errorf("firestore store: encode record %s: %w", r.CallID, err)
			}
			models := &pb.ArrayValue{}
			for _, m := range spend.ModelNames(r) {
				models.Values = append(models.Values, strValue(m))
			}
			fields := map[string]*pb.Value{
				"rec":     strValue(string(js)),
				"sk":      strValue(spend.SortKey(r)),
				"models":  {ValueType: &pb.Value_ArrayValue{ArrayValue: models}},
				"api_key": strValue(r.KeyHash),
				"user_id": strValue(r.UserID),
				"team_id": strValue(r.TeamID),
			}
			if st.o.Retention > 0 {
				fields["expireAt"] = tsValue(r.StartTime.Add(st.o.Retention))
			}
			writes = append(writes, &pb.Write{Operation: &pb.Write_Update{Update: &pb.Document{
				Name: st.spend.Doc(docID(r.CallID)).Path, Fields: fields,
			}}})
		}
		if _, err := st.lo.Commit(ctx, &pb.CommitRequest{Database: st.db, Writes: writes}); err != nil {
			return fmt.Errorf("firestore store: put spend: %w", err)
		}
	}
	return nil
}

// QuerySpend implements spend.Store with one query: sk range, newest first,
// the key, user and team as equalities and the model as array-contains
// (composite indexes in firestore.indexes.json; Firestore merges them when
// several equalities are given), so every filter runs in the index.
func (st *Store) QuerySpend(ctx context.Context, q spend.Query) (spend.Page, error) {
	q, err := q.Normalize()
	if err != nil {
		return spend.Page{}, err
	}
	lo, hi := q.Bounds()
	var page spend.Page
	if q.RequestID != "" {
		snap, err := st.spend.Doc(docID(q.RequestID)).Get(ctx)
		if status.Code(err) == codes.NotFound {
			return page, nil
		}
		if err != nil {
			return page, fmt.Errorf("firestore store: get record: %w", err)
		}
		r, err := decode(snap)
		if err != nil {
			return page, err
		}
		if sk := spend.SortKey(r); q.Matches(r) && sk >= lo && (hi == "" || sk < hi) {
			page.Records = append(page.Records, r)
		}
		return page, nil
	}
	query := st.spend.Select("rec", "sk").OrderBy("sk", fs.Desc).Limit(q.Limit + 1)
	if lo != "" {
		query = query.Where("sk", ">=", lo)
	}
	if hi != "" {
		query = query.Where("sk", "<", hi)
	}
	if q.KeyHash != "" {
		query = query.Where("api_key", "==", q.KeyHash)
	}
	if q.UserID != "" {
		query = query.Where("user_id", "==", q.UserID)
	}
	if q.TeamID != "" {
		query = query.Where("team_id", "==", q.TeamID)
	}
	if q.Model != "" {
		query = query.Where("models", "array-contains", q.Model)
	}
	it := query.Documents(ctx)
	defer it.Stop()
	var lastSK string
	for {
		snap, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return page, nil
		}
		if err != nil {
			return page, fmt.Errorf("firestore store: query: %w", err)
		}
		if len(page.Records) == q.Limit {
			page.NextCursor = spend.EncodeCursor(lastSK)
			return page, nil
		}
		r, err := decode(snap)
		if err != nil {
			return page, err
		}
		page.Records = append(page.Records, r)
		lastSK, _ = snap.Data()["sk"].(string)
	}
}

func decode(snap *fs.DocumentSnapshot) (spend.Record, error) {
	var r spend.Record
	js, _ := snap.Data()["rec"].(string)
	if err := json.Unmarshal([]byte(js), &r); err != nil {
		return r, fmt.Errorf("firestore store: bad record %s: %w", snap.Ref.ID, err)
	}
	return r, nil
}
