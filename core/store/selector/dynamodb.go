//go:build !nodynamodb

package selector

import (
	"context"

	"github.com/claude-gateway/claude-gateway/core/store/dynamodb"
)

// hasDynamoDB says whether this build includes the dynamodb store.
const hasDynamoDB = true

func openDynamoDB(ctx context.Context, p params) (backend, error) {
	table := first(p.env("GATEWAY_STATE_TABLE"), p.cfg.General.StateTable, DefaultTable)
	client, err := dynamodb.NewClient(ctx, p.env("AWS_ENDPOINT_URL_DYNAMODB"))
	if err != nil {
		return backend{}, err
	}
	if isTrue(p.env("GATEWAY_STATE_CREATE_TABLE")) {
		if err := dynamodb.CreateTable(ctx, client, table, p.log); err != nil {
			return backend{}, err
		}
	}
	s, err := dynamodb.New(dynamodb.Options{Client: client, Table: table, Logger: p.log, Retention: p.retention})
	if err != nil {
		return backend{}, err
	}
	return backend{store: s, spend: s}, nil
}
