package dynamodb

import (
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// TestTableYAMLMatchesDefinition: the CloudFormation snippet declares every
// attribute and index TableDefinition creates.
func TestTableYAMLMatchesDefinition(t *testing.T) {
	b, err := os.ReadFile("table.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	def := TableDefinition("x")
	for _, a := range def.AttributeDefinitions {
		if !strings.Contains(doc, "AttributeName: "+aws.ToString(a.AttributeName)+",") {
			t.Errorf("attribute %s missing from table.yaml", aws.ToString(a.AttributeName))
		}
	}
	for _, g := range def.GlobalSecondaryIndexes {
		if !strings.Contains(doc, "IndexName: "+aws.ToString(g.IndexName)) {
			t.Errorf("index %s missing from table.yaml", aws.ToString(g.IndexName))
		}
	}
	if !strings.Contains(doc, "AttributeName: ttl") {
		t.Error("TTL attribute missing")
	}
}
