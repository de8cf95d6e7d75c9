package bedrock

import (
	"strings"
)

// modelID is a deployment's Bedrock model: what goes into the /model/{id}/...
// path (the SDK path-escapes ':' and '/'), and the region an ARN names.
type modelID struct {
	// ID is a foundation model id, an inference profile id or an ARN.
	ID string
	// Region is the region embedded in an ARN ("" for plain ids).
	Region string
}

// routePrefixes are LiteLLM's Bedrock route selectors. Messages always go
// through InvokeModel (Converse loses Claude features), so both mean the same.
var routePrefixes = []string{"converse/", "invoke/"}

// parseModelID reads Params.UpstreamModel (the text after "bedrock/").
func parseModelID(upstream string) modelID {
	id := strings.TrimSpace(upstream)
	for _, p := range routePrefixes {
		if strings.HasPrefix(id, p) {
			id = id[len(p):]
			break
		}
	}
	m := modelID{ID: id}
	// arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic...
	if strings.HasPrefix(id, "arn:") {
		if parts := strings.SplitN(id, ":", 6); len(parts) == 6 {
			m.Region = parts[3]
		}
	}
	return m
}

// profilePrefixes are the geographic prefixes of cross-region inference
// profile ids ("us.anthropic.claude-..."). CountTokens only knows base models.
var profilePrefixes = []string{"us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca."}

// baseModel is the foundation model id behind id, for CountTokens: the
// inference profile prefix removed, and the resource part of a foundation
// model or system inference profile ARN. An application inference profile
// ARN names no model, so it is returned unchanged.
func (m modelID) baseModel() string {
	id := m.ID
	if strings.HasPrefix(id, "arn:") {
		parts := strings.SplitN(id, ":", 6)
		if len(parts) != 6 {
			return id
		}
		kind, res, ok := strings.Cut(parts[5], "/")
		if !ok || (kind != "foundation-model" && kind != "inference-profile") {
			return id
		}
		id = res
	}
	for _, p := range profilePrefixes {
		if strings.HasPrefix(id, p) {
			return id[len(p):]
		}
	}
	return id
}
