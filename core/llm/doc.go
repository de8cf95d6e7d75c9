// Package llm holds the few types every layer of the gateway shares: the
// request as the gateway forwards it, one streamed Anthropic event, token
// usage, and the typed upstream error the router acts on.
//
// Bodies stay raw JSON bytes end to end. Layers edit them with targeted
// byte edits (see package jsonpatch) instead of decoding into structs,
// so fields the gateway does not know survive untouched.
package llm
