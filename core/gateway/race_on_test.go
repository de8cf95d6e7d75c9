//go:build race

package gateway_test

// raceEnabled: the race detector makes goroutine stacks (and the heap)
// bigger, so memory bounds written for a normal build do not hold.
const raceEnabled = true
