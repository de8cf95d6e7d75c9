package config

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

const envPrefix = "os.environ/"

// resolveEnv replaces every scalar "os.environ/NAME" in the tree with the
// variable's value. An unset variable is an error naming the exact place.
func resolveEnv(n *yaml.Node, path string, lookup func(string) (string, bool)) error {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if err := resolveEnv(c, path, lookup); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := resolveEnv(n.Content[i+1], join(path, n.Content[i].Value), lookup); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := resolveEnv(c, path+"["+strconv.Itoa(i)+"]", lookup); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		if n.Tag != "!!str" && n.Tag != "" {
			return nil
		}
		name, ok := strings.CutPrefix(strings.TrimSpace(n.Value), envPrefix)
		if !ok {
			return nil
		}
		v, set := lookup(name)
		if !set {
			return fmt.Errorf("%s: environment variable %s (from %q) is not set", path, name, n.Value)
		}
		n.Value = v
		// Keep it a string: the typed readers convert "8080" where a number is wanted.
		n.Tag = "!!str"
		n.Style = yaml.DoubleQuotedStyle
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
