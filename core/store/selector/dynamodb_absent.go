//go:build nodynamodb

package selector

// openDynamoDB: this build was made with -tags nodynamodb.
var openDynamoDB = notInBuild(DynamoDB, TagNoDynamoDB)

// hasDynamoDB says whether this build includes the dynamodb store.
const hasDynamoDB = false
