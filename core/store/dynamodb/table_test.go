package dynamodb

import (
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// TestTemplateMatchesDefinition: the state table in template.yaml (what
// production runs on) has the keys, index and TTL attribute this store uses.
func TestTemplateMatchesDefinition(t *testing.T) {
	b, err := os.ReadFile("../../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "StateTable:\n    Type: AWS::DynamoDB::Table")
	if i < 0 {
		t.Fatal("no StateTable in template.yaml")
	}
	table := doc[i:]
	def := TableDefinition("x")
	for _, a := range def.AttributeDefinitions {
		if !strings.Contains(table, "AttributeName: "+aws.ToString(a.AttributeName)+"\n") {
			t.Errorf("attribute %s missing from template.yaml", aws.ToString(a.AttributeName))
		}
	}
	for _, g := range def.GlobalSecondaryIndexes {
		if !strings.Contains(table, "IndexName: "+aws.ToString(g.IndexName)+"\n") {
			t.Errorf("index %s missing from template.yaml", aws.ToString(g.IndexName))
		}
	}
	if !strings.Contains(table, "TimeToLiveSpecification:\n        AttributeName: ttl\n        Enabled: true") {
		t.Error("TTL on attribute ttl missing from template.yaml")
	}
}
