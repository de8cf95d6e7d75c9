package bedrock

import (
	"errors"

	"github.com/claude-gateway/claude-gateway/core/llm"
)

func asLLMError(err error, target **llm.Error) bool { return errors.As(err, target) }
