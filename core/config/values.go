package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// section reads typed values out of one decoded YAML mapping, remembering which
// keys were read so the rest can be reported as not implemented.
type section struct {
	path string
	m    map[string]any
	used map[string]bool
	errs []error
}

func newSection(path string, v any) *section {
	m, _ := v.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	return &section{path: path, m: m, used: map[string]bool{}}
}

func (s *section) fail(key, format string, args ...any) {
	s.errs = append(s.errs, fmt.Errorf("%s: %s", join(s.path, key), fmt.Sprintf(format, args...)))
}

func (s *section) has(key string) bool { _, ok := s.m[key]; return ok }

func (s *section) raw(key string) (any, bool) {
	v, ok := s.m[key]
	if ok {
		s.used[key] = true
	}
	return v, ok && v != nil
}

func (s *section) str(key string) string {
	v, ok := s.raw(key)
	if !ok {
		return ""
	}
	switch x := v.(type) {
	case string:
		return x
	case int, int64, float64, bool:
		return fmt.Sprint(x)
	}
	s.fail(key, "want a string, got %T", v)
	return ""
}

func (s *section) float(key string) (float64, bool) {
	v, ok := s.raw(key)
	if !ok {
		return 0, false
	}
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case float64:
		return x, true
	case string:
		if strings.TrimSpace(x) == "" {
			return 0, false
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err == nil {
			return f, true
		}
	}
	s.fail(key, "want a number, got %v", v)
	return 0, false
}

func (s *section) int(key string) (int64, bool) {
	f, ok := s.float(key)
	return int64(f), ok
}

func (s *section) boolean(key string) (bool, bool) {
	v, ok := s.raw(key)
	if !ok {
		return false, false
	}
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		if b, err := strconv.ParseBool(strings.TrimSpace(x)); err == nil {
			return b, true
		}
	}
	s.fail(key, "want true or false, got %v", v)
	return false, false
}

// seconds reads a duration given in seconds (LiteLLM's convention).
func (s *section) seconds(key string) time.Duration {
	f, ok := s.float(key)
	if !ok {
		return 0
	}
	if f < 0 {
		s.fail(key, "must not be negative")
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

func (s *section) strMap(key string) map[string]string {
	v, ok := s.raw(key)
	if !ok {
		return nil
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		s.fail(key, "want a mapping, got %T", v)
		return nil
	}
	out := make(map[string]string, len(m))
	for k, x := range m {
		out[k] = fmt.Sprint(x)
	}
	return out
}

// strList reads a list of non-empty strings.
func (s *section) strList(key string) []string {
	v, ok := s.raw(key)
	if !ok {
		return nil
	}
	l, isList := v.([]any)
	if !isList {
		s.fail(key, "want a list of strings, got %T", v)
		return nil
	}
	out := make([]string, 0, len(l))
	for i, x := range l {
		str, isStr := x.(string)
		if !isStr || str == "" {
			s.fail(fmt.Sprintf("%s[%d]", key, i), "want a non-empty string, got %v", x)
			return nil
		}
		out = append(out, str)
	}
	return out
}

// unknown returns the keys present but never read.
func (s *section) unknown() []string {
	var out []string
	for k := range s.m {
		if !s.used[k] {
			out = append(out, join(s.path, k))
		}
	}
	return out
}
