//go:build noredis

package selector

// openRedis: this build was made with -tags noredis.
var openRedis = notInBuild(Redis, TagNoRedis)

// hasRedis says whether this build includes the redis store.
const hasRedis = false
