// Package dynamodb is the shared state store on Amazon DynamoDB, for gateways
// on AWS Lambda (many instances at once). One table holds everything:
//
//	item              pk            sk          gsi1pk         other attributes
//	counter / entry   k#<key>       k           -              n (count), v (value, binary), exp (ms), ttl (s)
//	spend record      s#<call id>   s           t#<0..7>       rec (the record, JSON), mg, rm, kh, ttl?
//	  by model        s#<call id>   m#<model>   m#<model>      the same, once per model group / requested model
//	  by key          s#<call id>   a           a#<key hash>   the same
//	set member        x#<set>       m<member>   -              - (sets.go: identity's listings)
//
// One global secondary index, gsi1 (gsi1pk, gsi1sk; projection ALL), is
// overloaded to serve /spend/logs without scans: every spend item has
// gsi1sk = spend.SortKey (start time, call id), and gsi1pk names the access
// path (a time shard of the call id, so writes spread over 8 partitions; a
// model; a key). A record is thus 2 to 4 small items, all written in the same
// BatchWriteItem and all keyed by its call id. Counters and entries have no
// gsi1pk and stay out of the index. The table is StateTable in template.yaml.
//
// Every counter and entry carries a TTL attribute "ttl" (epoch seconds); the
// table's TTL setting (in template.yaml, see TableDefinition) deletes them,
// and reads check "exp" themselves because TTL deletion lags. Spend records
// get "ttl" only when a retention is configured.
//
// Round trips: Incr is one conditional UpdateItem (ADD) when admitted; a
// refusal costs a second read only where the server does not return the old
// item with the failed condition (DynamoDB does; dynalite does not). Counts
// and Get are one BatchGetItem (per 100 keys), Put one PutItem, a spend batch
// one BatchWriteItem per 25 items. No transactions, no PartiQL: dynalite, the
// local test server, has neither.
package dynamodb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/spend"
)

// The index and the number of time shards (fixed: queries read every shard).
const (
	Index      = "gsi1"
	timeShards = 8
)

// Options configure a Store.
type Options struct {
	// Client talks to DynamoDB (see NewClient).
	Client *ddb.Client
	// Table is the table name.
	Table  string
	Logger *slog.Logger
	// Retention sets a TTL on spend records (0: kept until deleted).
	Retention time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Store implements router.Store and spend.Store on one DynamoDB table.
type Store struct {
	c     *ddb.Client
	table *string
	o     Options
}

var (
	_ router.Store = (*Store)(nil)
	_ spend.Store  = (*Store)(nil)
)

// New returns a store on an existing table; it makes no calls.
func New(o Options) (*Store, error) {
	if o.Client == nil || o.Table == "" {
		return nil, errors.New("dynamodb store: a client and a table name are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Store{c: o.Client, table: aws.String(o.Table), o: o}, nil
}

// NewClient builds a client from the standard AWS configuration (env,
// shared files, role). endpoint, if set, replaces the service endpoint (a
// local server); AWS_ENDPOINT_URL_DYNAMODB works as well.
func NewClient(ctx context.Context, endpoint string) (*ddb.Client, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx,
		// The store is on the request path: retry briefly (the SDK's default
		// backoff can wait seconds), and keep enough idle connections for
		// concurrent requests not to open new ones.
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 3
				o.MaxBackoff = 200 * time.Millisecond
			})
		}),
		awsconfig.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConns = 256
			t.MaxIdleConnsPerHost = 256
		})),
	)
	if err != nil {
		return nil, fmt.Errorf("dynamodb store: AWS config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return ddb.NewFromConfig(cfg, func(o *ddb.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}

// Attribute values and names used in expressions. Names are always aliased:
// "ttl" and others are DynamoDB reserved words.
func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

// kvPK is a counter's or entry's partition key. DynamoDB caps partition
// keys at 2048 bytes of UTF-8, so long or non-UTF-8 keys go by their hash.
func kvPK(key string) string {
	if len(key) > 1024 || !utf8.ValidString(key) {
		sum := sha256.Sum256([]byte(key))
		return "k#h:" + hex.EncodeToString(sum[:])
	}
	return "k#" + key
}

func kvKey(key string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": s(kvPK(key)), "sk": s("k")}
}

func ms(t time.Time) int64 { return t.UnixMilli() }

// ttlOf is the TTL attribute for an expiry: epoch seconds, rounded up.
func ttlOf(t time.Time) int64 { return int64(math.Ceil(float64(t.UnixMilli()) / 1000)) }

func numAttr(item map[string]types.AttributeValue, name string) (int64, bool) {
	v, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, false
	}
	x, err := strconv.ParseInt(v.Value, 10, 64)
	return x, err == nil
}

func strAttr(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// Incr implements router.Store with one conditional UpdateItem: the ADD
// happens only if the item is new (and delta fits the limit) or live and
// below limit-delta. A live item over the limit is refused; an item that
// expired but is not yet deleted by TTL is reset to delta, conditioned on its
// old expiry so concurrent resets cannot both win.
func (st *Store) Incr(ctx context.Context, key string, delta, limit int64, expires time.Time) (int64, bool, error) {
	if limit > 0 && delta > limit {
		// Refused whatever the count; read it for the answer.
		c, err := st.Counts(ctx, []string{key})
		if err != nil {
			return 0, false, err
		}
		return c[0], false, nil
	}
	for attempt := 0; attempt < 5; attempt++ {
		now := st.o.Now()
		vals := map[string]types.AttributeValue{
			":d": n(delta), ":e": n(ms(expires)), ":t": n(ttlOf(expires)), ":now": n(ms(now)),
		}
		cond := "attribute_not_exists(#n) OR #e > :now"
		if limit > 0 {
			cond = "attribute_not_exists(#n) OR (#e > :now AND #n <= :max)"
			vals[":max"] = n(limit - delta)
		}
		out, err := st.c.UpdateItem(ctx, &ddb.UpdateItemInput{
			TableName:                           st.table,
			Key:                                 kvKey(key),
			UpdateExpression:                    aws.String("ADD #n :d SET #e = if_not_exists(#e, :e), #t = if_not_exists(#t, :t)"),
			ConditionExpression:                 aws.String(cond),
			ExpressionAttributeNames:            map[string]string{"#n": "n", "#e": "exp", "#t": "ttl"},
			ExpressionAttributeValues:           vals,
			ReturnValues:                        types.ReturnValueUpdatedNew,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		if err == nil {
			v, _ := numAttr(out.Attributes, "n")
			return v, true, nil
		}
		var ccf *types.ConditionalCheckFailedException
		if !errors.As(err, &ccf) {
			return 0, false, fmt.Errorf("dynamodb store: incr: %w", err)
		}
		old := ccf.Item
		if old == nil { // servers without ReturnValuesOnConditionCheckFailure
			if old, err = st.getKV(ctx, key); err != nil {
				return 0, false, err
			}
		}
		cur, hasN := numAttr(old, "n")
		exp, _ := numAttr(old, "exp")
		switch {
		case !hasN:
			continue // deleted in between: try again
		case exp > ms(now):
			return cur, false, nil
		}
		// Expired but still stored: start a new window.
		_, err = st.c.UpdateItem(ctx, &ddb.UpdateItemInput{
			TableName:                 st.table,
			Key:                       kvKey(key),
			UpdateExpression:          aws.String("SET #n = :d, #e = :e, #t = :t"),
			ConditionExpression:       aws.String("#e = :olde"),
			ExpressionAttributeNames:  map[string]string{"#n": "n", "#e": "exp", "#t": "ttl"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":d": n(delta), ":e": n(ms(expires)), ":t": n(ttlOf(expires)), ":olde": n(exp)},
		})
		if err == nil {
			return delta, true, nil
		}
		if !errors.As(err, &ccf) {
			return 0, false, fmt.Errorf("dynamodb store: incr: %w", err)
		}
		// Someone else reset it first: go round again.
	}
	return 0, false, errors.New("dynamodb store: incr: too much contention on " + key)
}

func (st *Store) getKV(ctx context.Context, key string) (map[string]types.AttributeValue, error) {
	out, err := st.c.GetItem(ctx, &ddb.GetItemInput{TableName: st.table, Key: kvKey(key), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("dynamodb store: get: %w", err)
	}
	return out.Item, nil
}

// batchGet reads the kv items at keys (strongly consistent), by partition key.
func (st *Store) batchGet(ctx context.Context, keys []string) (map[string]map[string]types.AttributeValue, error) {
	uniq := make([]string, 0, len(keys))
	seen := map[string]bool{}
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			uniq = append(uniq, k)
		}
	}
	found := make(map[string]map[string]types.AttributeValue, len(uniq))
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, (len(uniq)+99)/100)
	for i := 0; i < len(uniq); i += 100 {
		chunk := uniq[i:min(i+100, len(uniq))]
		wg.Add(1)
		go func(slot int) {
			defer wg.Done()
			req := make([]map[string]types.AttributeValue, len(chunk))
			for j, k := range chunk {
				req[j] = kvKey(k)
			}
			errs[slot] = st.batchGetChunk(ctx, req, func(item map[string]types.AttributeValue) {
				mu.Lock()
				found[strAttr(item, "pk")] = item
				mu.Unlock()
			})
		}(i / 100)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return found, nil
}

func (st *Store) batchGetChunk(ctx context.Context, keys []map[string]types.AttributeValue, each func(map[string]types.AttributeValue)) error {
	req := map[string]types.KeysAndAttributes{*st.table: {
		Keys: keys, ConsistentRead: aws.Bool(true),
		ProjectionExpression:     aws.String("#p, #n, #v, #e"),
		ExpressionAttributeNames: map[string]string{"#p": "pk", "#n": "n", "#v": "v", "#e": "exp"},
	}}
	wait := 20 * time.Millisecond
	for attempt := 0; ; attempt++ {
		out, err := st.c.BatchGetItem(ctx, &ddb.BatchGetItemInput{RequestItems: req})
		if err != nil {
			return fmt.Errorf("dynamodb store: batch get: %w", err)
		}
		for _, item := range out.Responses[*st.table] {
			each(item)
		}
		if len(out.UnprocessedKeys) == 0 || len(out.UnprocessedKeys[*st.table].Keys) == 0 {
			return nil
		}
		if attempt == 8 {
			return errors.New("dynamodb store: batch get: keys left unprocessed (throttled)")
		}
		req = out.UnprocessedKeys
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		wait = min(2*wait, time.Second)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Counts implements router.Store with one BatchGetItem (per 100 keys).
func (st *Store) Counts(ctx context.Context, keys []string) ([]int64, error) {
	out := make([]int64, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	found, err := st.batchGet(ctx, keys)
	if err != nil {
		return nil, err
	}
	now := ms(st.o.Now())
	for i, k := range keys {
		item := found[kvPK(k)]
		if exp, _ := numAttr(item, "exp"); exp > now {
			out[i], _ = numAttr(item, "n")
		}
	}
	return out, nil
}

// Put implements router.Store with one PutItem.
func (st *Store) Put(ctx context.Context, key, value string, expires time.Time) error {
	item := kvKey(key)
	// Binary: values need not be UTF-8.
	item["v"], item["exp"], item["ttl"] = &types.AttributeValueMemberB{Value: []byte(value)}, n(ms(expires)), n(ttlOf(expires))
	if _, err := st.c.PutItem(ctx, &ddb.PutItemInput{TableName: st.table, Item: item}); err != nil {
		return fmt.Errorf("dynamodb store: put: %w", err)
	}
	return nil
}

// Get implements router.Store with one BatchGetItem (per 100 keys).
func (st *Store) Get(ctx context.Context, keys []string) ([]router.Entry, error) {
	out := make([]router.Entry, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	found, err := st.batchGet(ctx, keys)
	if err != nil {
		return nil, err
	}
	now := ms(st.o.Now())
	for i, k := range keys {
		item := found[kvPK(k)]
		if exp, _ := numAttr(item, "exp"); exp > now {
			v, _ := item["v"].(*types.AttributeValueMemberB)
			out[i] = router.Entry{Expires: time.UnixMilli(exp)}
			if v != nil {
				out[i].Value = string(v.Value)
			}
		}
	}
	return out, nil
}

func shardOf(callID string) int {
	h := fnv.New32a()
	h.Write([]byte(callID))
	return int(h.Sum32() % timeShards)
}

// idxValue keeps client-supplied names within DynamoDB's key limits (1024
// bytes for a sort key): long ones go by their hash, in writes and queries alike.
func idxValue(v string) string {
	if len(v) > 512 {
		sum := sha256.Sum256([]byte(v))
		return "h:" + hex.EncodeToString(sum[:])
	}
	return v
}

// spendItems are the items of one record: the record under its time shard,
// and copies under each model name and under the key hash.
func (st *Store) spendItems(r spend.Record) ([]map[string]types.AttributeValue, error) {
	js, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	sk := s(spend.SortKey(r))
	item := func(itemSK, gsiPK string) map[string]types.AttributeValue {
		it := map[string]types.AttributeValue{
			"pk": s("s#" + r.CallID), "sk": s(itemSK), "rec": s(string(js)),
			"gsi1pk": s(gsiPK), "gsi1sk": sk,
		}
		if r.ModelGroup != "" {
			it["mg"] = s(strings.ToValidUTF8(r.ModelGroup, "\uFFFD"))
		}
		if r.RequestedModel != "" {
			it["rm"] = s(strings.ToValidUTF8(r.RequestedModel, "\uFFFD"))
		}
		if r.KeyHash != "" {
			it["kh"] = s(r.KeyHash)
		}
		if r.UserID != "" {
			it["uid"] = s(idxValue(r.UserID))
		}
		if r.TeamID != "" {
			it["tid"] = s(idxValue(r.TeamID))
		}
		if st.o.Retention > 0 {
			it["ttl"] = n(ttlOf(r.StartTime.Add(st.o.Retention)))
		}
		return it
	}
	items := []map[string]types.AttributeValue{item("s", "t#"+strconv.Itoa(shardOf(r.CallID)))}
	for _, m := range spend.ModelNames(r) {
		items = append(items, item("m#"+idxValue(m), "m#"+idxValue(m)))
	}
	if r.KeyHash != "" {
		items = append(items, item("a", "a#"+r.KeyHash))
	}
	if r.UserID != "" {
		items = append(items, item("u", "u#"+idxValue(r.UserID)))
	}
	if r.TeamID != "" {
		items = append(items, item("g", "g#"+idxValue(r.TeamID)))
	}
	return items, nil
}

// PutSpend implements spend.Store. Items are keyed by call id, so writing a
// record again overwrites it with the same content: one copy, whatever the
// retries. BatchWriteItem takes 25 items per call; chunks go in parallel.
func (st *Store) PutSpend(ctx context.Context, recs []spend.Record) error {
	recs = spend.Dedupe(recs)
	var reqs []types.WriteRequest
	for _, r := range recs {
		items, err := st.spendItems(r)
		if err != nil {
			return fmt.Errorf("dynamodb store: encode record %s: %w", r.CallID, err)
		}
		for _, it := range items {
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: it}})
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	errs := make([]error, (len(reqs)+24)/25)
	for i := 0; i < len(reqs); i += 25 {
		chunk := reqs[i:min(i+25, len(reqs))]
		wg.Add(1)
		sem <- struct{}{}
		go func(slot int) {
			defer func() { <-sem; wg.Done() }()
			errs[slot] = st.batchWrite(ctx, chunk)
		}(i / 25)
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (st *Store) batchWrite(ctx context.Context, reqs []types.WriteRequest) error {
	items := map[string][]types.WriteRequest{*st.table: reqs}
	wait := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		out, err := st.c.BatchWriteItem(ctx, &ddb.BatchWriteItemInput{RequestItems: items})
		if err != nil {
			return fmt.Errorf("dynamodb store: batch write: %w", err)
		}
		if len(out.UnprocessedItems[*st.table]) == 0 {
			return nil
		}
		if attempt == 8 {
			return errors.New("dynamodb store: batch write: items left unprocessed (throttled)")
		}
		items = out.UnprocessedItems
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// queryParts picks the gsi1 partitions for q: the first of key, user, team
// and model that q names (the others filtered in the query, so Limit counts
// only matches), else the eight time shards.
func queryParts(q spend.Query) []partQuery {
	type cond struct {
		pk, expr, attr, val string
	}
	conds := []cond{
		{"a#" + q.KeyHash, "kh = :kh", ":kh", q.KeyHash},
		{"u#" + idxValue(q.UserID), "uid = :uid", ":uid", idxValue(q.UserID)},
		{"g#" + idxValue(q.TeamID), "tid = :tid", ":tid", idxValue(q.TeamID)},
		{"m#" + idxValue(q.Model), "(mg = :m OR rm = :m)", ":m", q.Model},
	}
	var p *partQuery
	var filters []string
	for _, c := range conds {
		switch {
		case c.val == "":
		case p == nil:
			p = &partQuery{pk: c.pk, filterVals: map[string]types.AttributeValue{}}
		default:
			filters = append(filters, c.expr)
			p.filterVals[c.attr] = s(c.val)
		}
	}
	if p == nil {
		parts := make([]partQuery, 0, timeShards)
		for i := range timeShards {
			parts = append(parts, partQuery{pk: "t#" + strconv.Itoa(i)})
		}
		return parts
	}
	p.filter = strings.Join(filters, " AND ")
	return []partQuery{*p}
}

// partQuery is one gsi1 partition to read for a query.
type partQuery struct {
	pk         string
	filter     string // FilterExpression, "" for none
	filterVals map[string]types.AttributeValue
}

// QuerySpend implements spend.Store. A request id is one GetItem. Otherwise
// one gsi1 path is read backwards from the page's upper bound (see
// queryParts): the key's, user's, team's or model's partition, else the
// eight time shards in parallel, merged.
func (st *Store) QuerySpend(ctx context.Context, q spend.Query) (spend.Page, error) {
	q, err := q.Normalize()
	if err != nil {
		return spend.Page{}, err
	}
	lo, hi := q.Bounds()
	if q.RequestID != "" {
		return st.byID(ctx, q, lo, hi)
	}
	parts := queryParts(q)
	type hit struct {
		sk  string
		rec spend.Record
	}
	var mu sync.Mutex
	var hits []hit
	var wg sync.WaitGroup
	errs := make([]error, len(parts))
	for i, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = st.queryPart(ctx, p, lo, hi, q.Limit+1, func(sk string, r spend.Record) {
				mu.Lock()
				hits = append(hits, hit{sk, r})
				mu.Unlock()
			})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return spend.Page{}, err
	}
	sort.Slice(hits, func(i, j int) bool { return hits[i].sk > hits[j].sk })
	var page spend.Page
	for i, h := range hits {
		if i == q.Limit {
			page.NextCursor = spend.EncodeCursor(hits[i-1].sk)
			break
		}
		page.Records = append(page.Records, h.rec)
	}
	return page, nil
}

func (st *Store) byID(ctx context.Context, q spend.Query, lo, hi string) (spend.Page, error) {
	out, err := st.c.GetItem(ctx, &ddb.GetItemInput{
		TableName: st.table, ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": s("s#" + q.RequestID), "sk": s("s")},
	})
	if err != nil {
		return spend.Page{}, fmt.Errorf("dynamodb store: get record: %w", err)
	}
	var page spend.Page
	if out.Item == nil {
		return page, nil
	}
	r, err := decodeRecord(out.Item)
	if err != nil {
		return page, err
	}
	if sk := spend.SortKey(r); q.Matches(r) && sk >= lo && (hi == "" || sk < hi) {
		page.Records = append(page.Records, r)
	}
	return page, nil
}

func decodeRecord(item map[string]types.AttributeValue) (spend.Record, error) {
	var r spend.Record
	if err := json.Unmarshal([]byte(strAttr(item, "rec")), &r); err != nil {
		return r, fmt.Errorf("dynamodb store: bad record %s: %w", strAttr(item, "pk"), err)
	}
	return r, nil
}

// queryPart reads one index partition newest first, sort keys in [lo, hi),
// until want records matched or the partition ends.
func (st *Store) queryPart(ctx context.Context, p partQuery, lo, hi string, want int, each func(string, spend.Record)) error {
	vals := map[string]types.AttributeValue{":pk": s(p.pk)}
	for k, v := range p.filterVals {
		vals[k] = v
	}
	cond := "#pk = :pk"
	switch {
	case lo != "" && hi != "":
		cond += " AND #sk BETWEEN :lo AND :hi" // inclusive: a record at hi is skipped below
		vals[":lo"], vals[":hi"] = s(lo), s(hi)
	case lo != "":
		cond += " AND #sk >= :lo"
		vals[":lo"] = s(lo)
	case hi != "":
		cond += " AND #sk < :hi"
		vals[":hi"] = s(hi)
	}
	attrNames := map[string]string{"#pk": "gsi1pk"}
	if lo != "" || hi != "" {
		attrNames["#sk"] = "gsi1sk"
	}
	in := &ddb.QueryInput{
		TableName:                 st.table,
		IndexName:                 aws.String(Index),
		KeyConditionExpression:    aws.String(cond),
		ExpressionAttributeNames:  attrNames,
		ExpressionAttributeValues: vals,
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(want)),
	}
	if p.filter != "" {
		in.FilterExpression = aws.String(p.filter)
	}
	got := 0
	for {
		out, err := st.c.Query(ctx, in)
		if err != nil {
			return fmt.Errorf("dynamodb store: query %s: %w", p.pk, err)
		}
		for _, item := range out.Items {
			sk := strAttr(item, "gsi1sk")
			if hi != "" && sk >= hi {
				continue
			}
			r, err := decodeRecord(item)
			if err != nil {
				return err
			}
			each(sk, r)
			if got++; got == want {
				return nil
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// TableDefinition is the table this store expects: string keys pk and sk,
// the gsi1 index, on-demand capacity. template.yaml declares the same table
// with TimeToLiveSpecification {AttributeName: ttl, Enabled: true}.
func TableDefinition(table string) *ddb.CreateTableInput {
	str := func(name string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: types.ScalarAttributeTypeS}
	}
	gsi := func(name, pk, sk string) types.GlobalSecondaryIndex {
		return types.GlobalSecondaryIndex{
			IndexName: aws.String(name),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(pk), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(sk), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}
	}
	return &ddb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			str("pk"), str("sk"), str("gsi1pk"), str("gsi1sk"),
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
			gsi(Index, "gsi1pk", "gsi1sk"),
		},
	}
}

// CreateTable creates the table (if it does not exist), waits until it is
// active, and turns TTL on. Servers without UpdateTimeToLive (dynalite) are
// tolerated: TTL belongs in the table's definition (template.yaml) anyway.
func CreateTable(ctx context.Context, c *ddb.Client, table string, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	_, err := c.CreateTable(ctx, TableDefinition(table))
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("dynamodb store: create table %s: %w", table, err)
	}
	w := ddb.NewTableExistsWaiter(c, func(o *ddb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, 2*time.Second
	})
	if err := w.Wait(ctx, &ddb.DescribeTableInput{TableName: aws.String(table)}, 2*time.Minute); err != nil {
		return fmt.Errorf("dynamodb store: table %s not active: %w", table, err)
	}
	_, err = c.UpdateTimeToLive(ctx, &ddb.UpdateTimeToLiveInput{
		TableName:               aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("ttl"), Enabled: aws.Bool(true)},
	})
	if err != nil {
		log.Info("dynamodb store: could not turn TTL on (set it in the table definition)", "table", table, "err", err)
	}
	return nil
}
