package dynamodb

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Sets (identity's listings) are items of one partition per set:
//
//	item        pk          sk
//	set member  x#<set>     m<member>
//
// so adding is one PutItem that touches no other member, and listing is a
// Query of the partition in sort-key (byte) order, paged by the sort key.
// A member is at most 1,023 bytes (DynamoDB's sort-key limit, less "m").

func setKey(set, member string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": s("x#" + set), "sk": s("m" + member)}
}

// SetAdd adds member to set with one PutItem.
func (st *Store) SetAdd(ctx context.Context, set, member string) error {
	if _, err := st.c.PutItem(ctx, &ddb.PutItemInput{TableName: st.table, Item: setKey(set, member)}); err != nil {
		return fmt.Errorf("dynamodb store: set add: %w", err)
	}
	return nil
}

// SetRemove removes member from set with one DeleteItem.
func (st *Store) SetRemove(ctx context.Context, set, member string) error {
	if _, err := st.c.DeleteItem(ctx, &ddb.DeleteItemInput{TableName: st.table, Key: setKey(set, member)}); err != nil {
		return fmt.Errorf("dynamodb store: set remove: %w", err)
	}
	return nil
}

// SetRange queries set's partition for up to limit members after after.
func (st *Store) SetRange(ctx context.Context, set, after string, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	in := &ddb.QueryInput{
		TableName:                 st.table,
		KeyConditionExpression:    aws.String("#pk = :pk AND #sk > :after"),
		ExpressionAttributeNames:  map[string]string{"#pk": "pk", "#sk": "sk"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": s("x#" + set), ":after": s("m" + after)},
		ProjectionExpression:      aws.String("#sk"),
		ConsistentRead:            aws.Bool(true),
		Limit:                     aws.Int32(int32(limit)),
	}
	var out []string
	for {
		page, err := st.c.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("dynamodb store: set range: %w", err)
		}
		for _, item := range page.Items {
			out = append(out, strAttr(item, "sk")[1:])
		}
		if len(out) >= limit || len(page.LastEvaluatedKey) == 0 {
			return out[:min(len(out), limit)], nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
		in.Limit = aws.Int32(int32(limit - len(out)))
	}
}
