package dynamodb

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/claude-gateway/claude-gateway/core/router"
	"github.com/claude-gateway/claude-gateway/core/spend"
	"github.com/claude-gateway/claude-gateway/core/store/storetest"
)

// testClient talks to the DynamoDB-compatible server at DYNAMODB_ENDPOINT
// (dynalite, started by scripts/test-services.sh), or skips.
func testClient(tb testing.TB) *ddb.Client {
	endpoint := os.Getenv("DYNAMODB_ENDPOINT")
	if endpoint == "" {
		tb.Skip("SKIP: DYNAMODB_ENDPOINT is not set; run through scripts/test-services.sh to test against dynalite" + reason("DYNAMODB"))
	}
	return ddb.New(ddb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

func reason(name string) string {
	if r := os.Getenv("STATE_TEST_SKIP_" + name); r != "" {
		return " (" + r + ")"
	}
	return ""
}

// open makes a fresh table per call, so tests never see each other's records.
func open(tb testing.TB) (router.Store, spend.Store) {
	c := testClient(tb)
	table := fmt.Sprintf("gw-test-%08x", rand.Uint32())
	ctx := context.Background()
	if err := CreateTable(ctx, c, table, nil); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.DeleteTable(ctx, &ddb.DeleteTableInput{TableName: aws.String(table)}) })
	st, err := New(Options{Client: c, Table: table})
	if err != nil {
		tb.Fatal(err)
	}
	return st, st
}

func TestConformance(t *testing.T) { storetest.Run(t, open) }

func BenchmarkStore(b *testing.B) { storetest.Bench(b, open) }

// TestMultiInstance: four clients on one table, as four gateway instances.
func TestMultiInstance(t *testing.T) {
	storetest.RunMultiInstance(t, func(tb testing.TB, n int) ([]router.Store, []spend.Store) {
		first := testClient(tb)
		table := fmt.Sprintf("gw-multi-%08x", rand.Uint32())
		ctx := context.Background()
		if err := CreateTable(ctx, first, table, nil); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { first.DeleteTable(ctx, &ddb.DeleteTableInput{TableName: aws.String(table)}) })
		var rs []router.Store
		var ss []spend.Store
		for range n {
			st, err := New(Options{Client: testClient(tb), Table: table})
			if err != nil {
				tb.Fatal(err)
			}
			rs, ss = append(rs, st), append(ss, st)
		}
		return rs, ss
	})
}
