// Package pricing prices a call: a table of Claude prices per provider
// (prices.yaml, embedded, sources noted there), model_info overrides from
// the config, and the cost formula. Pricer satisfies core/server's Pricer.
package pricing

import (
	_ "embed"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/claude-gateway/claude-gateway/core/config"
	"github.com/claude-gateway/claude-gateway/core/llm"
	"github.com/claude-gateway/claude-gateway/core/router"
)

//go:embed prices.yaml
var pricesYAML []byte

// Price is USD per token.
type Price struct {
	Input      float64 `json:"input_cost_per_token"`
	Output     float64 `json:"output_cost_per_token"`
	CacheWrite float64 `json:"cache_creation_input_token_cost"`
	CacheRead  float64 `json:"cache_read_input_token_cost"`
}

// Rates are a deployment's prices: the base price and, for models with
// long-context pricing, the price of requests over 200k input tokens.
type Rates struct {
	Base      Price
	Above200k *Price
}

// LongContextThreshold is the input size (uncached + cache write + cache
// read) above which Above200k applies to the whole request.
const LongContextThreshold = 200_000

// Cost is the price of usage at r: uncached input, cache writes, cache reads
// and output, each at its own price. Anthropic's input_tokens already
// excludes cached tokens, so nothing is counted twice.
func (r Rates) Cost(u llm.Usage) float64 {
	p := r.Base
	if r.Above200k != nil && u.InputTokens+u.CacheCreationInputTokens+u.CacheReadInputTokens > LongContextThreshold {
		p = *r.Above200k
	}
	return float64(u.InputTokens)*p.Input +
		float64(u.CacheCreationInputTokens)*p.CacheWrite +
		float64(u.CacheReadInputTokens)*p.CacheRead +
		float64(u.OutputTokens)*p.Output
}

// perMillion is a price as written in prices.yaml (USD per million tokens).
// Pointers tell "not given" from 0 in provider overrides.
type perMillion struct {
	Input      *float64 `yaml:"input"`
	Output     *float64 `yaml:"output"`
	CacheWrite *float64 `yaml:"cache_write"`
	CacheRead  *float64 `yaml:"cache_read"`
}

type modelSpec struct {
	perMillion      `yaml:",inline"`
	Above200k       *perMillion            `yaml:"above_200k"`
	RegionalPremium float64                `yaml:"regional_premium"`
	Providers       map[string]*perMillion `yaml:",inline"`
}

type tableFile struct {
	Models map[string]modelSpec `yaml:"models"`
}

// Table is a parsed price table.
type Table struct {
	models map[string]modelSpec
}

// Parse reads a price table in prices.yaml's format.
func Parse(data []byte) (*Table, error) {
	var f tableFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("pricing: %w", err)
	}
	if len(f.Models) == 0 {
		return nil, fmt.Errorf("pricing: no models")
	}
	for name, m := range f.Models {
		if m.Input == nil || m.Output == nil || m.CacheWrite == nil || m.CacheRead == nil {
			return nil, fmt.Errorf("pricing: %s: input, output, cache_write and cache_read are required", name)
		}
		for p := range m.Providers {
			switch p {
			case config.ProviderAnthropic, config.ProviderBedrock, config.ProviderVertex:
			default:
				return nil, fmt.Errorf("pricing: %s: unknown key %q", name, p)
			}
		}
	}
	return &Table{models: f.Models}, nil
}

var defaultTable = sync.OnceValue(func() *Table {
	t, err := Parse(pricesYAML)
	if err != nil {
		panic(err) // the embedded file is tested
	}
	return t
})

// Default is the embedded price table.
func Default() *Table { return defaultTable() }

// geoPrefixes are Bedrock's geographic cross-region inference profiles,
// priced with the regional premium.
var geoPrefixes = map[string]bool{"us": true, "eu": true, "apac": true, "jp": true, "au": true, "ca": true, "us-gov": true}

// suffixes is compiled at first use, not at package init (which every cold
// start pays).
var suffixes = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(-v\d+(:\d+)?|-\d{8}|-latest)$`) })

// Family reduces a provider's model id to the table's family name and the
// Bedrock inference profile prefix it had ("" if none):
// "converse/us.anthropic.claude-sonnet-4-5-20250929-v1:0" -> "claude-sonnet-4-5", "us".
func Family(model string) (family, profile string) {
	m := strings.ToLower(model)
	if i := strings.LastIndex(m, "/"); i >= 0 { // route prefixes, inference-profile ARNs
		m = m[i+1:]
	}
	if pre, rest, ok := strings.Cut(m, "anthropic."); ok {
		profile, m = strings.TrimSuffix(pre, "."), rest
	}
	m = strings.ReplaceAll(m, "@", "-")
	for {
		loc := suffixes().FindStringIndex(m)
		if loc == nil {
			return m, profile
		}
		m = m[:loc[0]]
	}
}

// Lookup returns the table's rates for a model on a provider. region is
// the deployment's region (Vertex: "global" or a region).
func (t *Table) Lookup(provider, model, region string) (Rates, bool) {
	family, profile := Family(model)
	spec, ok := t.models[family]
	if !ok {
		return Rates{}, false
	}
	base := spec.perMillion
	if over := spec.Providers[provider]; over != nil {
		base = merge(base, *over)
	}
	premium := 1.0
	switch provider {
	case config.ProviderBedrock:
		if geoPrefixes[profile] {
			premium += spec.RegionalPremium
		}
	case config.ProviderVertex:
		if region != "global" {
			premium += spec.RegionalPremium
		}
	}
	r := Rates{Base: base.price(premium)}
	if spec.Above200k != nil {
		p := merge(spec.perMillion, *spec.Above200k).price(premium)
		r.Above200k = &p
	}
	return r, true
}

func merge(base, over perMillion) perMillion {
	if over.Input != nil {
		base.Input = over.Input
	}
	if over.Output != nil {
		base.Output = over.Output
	}
	if over.CacheWrite != nil {
		base.CacheWrite = over.CacheWrite
	}
	if over.CacheRead != nil {
		base.CacheRead = over.CacheRead
	}
	return base
}

// price converts to USD per token, rounding away float noise (3.3e-06, not 3.3000000000000006e-06).
func (p perMillion) price(mult float64) Price {
	conv := func(v *float64) float64 {
		if v == nil {
			return 0
		}
		x := *v * mult
		return roundSig(x) / 1e6
	}
	return Price{Input: conv(p.Input), Output: conv(p.Output), CacheWrite: conv(p.CacheWrite), CacheRead: conv(p.CacheRead)}
}

func roundSig(x float64) float64 {
	const scale = 1e9
	return float64(int64(x*scale+0.5)) / scale
}

// Pricer prices calls on deployments: the table's rates for the deployment's
// model, provider and region, with its model_info prices on top. It caches
// the rates per deployment and warns once about a model it cannot price.
type Pricer struct {
	t     *Table
	log   *slog.Logger
	cache sync.Map // *router.Deployment -> ratesOK
}

type ratesOK struct {
	r  Rates
	ok bool
}

// New returns a Pricer over t (nil: Default(), parsed at the first price
// asked for rather than at start-up, where it would add to every cold start).
func New(t *Table, log *slog.Logger) *Pricer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pricer{t: t, log: log}
}

// Cost implements core/server's Pricer: the call's cost in USD (0 for a
// model with no known price).
func (p *Pricer) Cost(d *router.Deployment, u llm.Usage) float64 {
	if d == nil {
		return 0
	}
	if v, ok := p.cache.Load(d); ok {
		return v.(ratesOK).r.Cost(u)
	}
	r, ok := p.Rates(d.Config)
	if !ok {
		p.log.Warn("no price known for this model: spend is recorded as 0; set model_info input_cost_per_token and output_cost_per_token (or base_model)",
			"deployment_id", d.Config.ID, "model", d.Config.Params.Model)
	}
	p.cache.Store(d, ratesOK{r, ok})
	return r.Cost(u)
}

// Rates resolves a deployment's prices; ok is false if neither the table
// nor model_info price it.
func (p *Pricer) Rates(d config.Deployment) (Rates, bool) {
	provider := d.Params.Provider
	if provider == config.ProviderSimulated {
		provider = config.ProviderAnthropic // simulated deployments cost what the model they mimic costs
	}
	region := ""
	if provider == config.ProviderVertex {
		region = d.Params.VertexLocation
	}
	t := p.t
	if t == nil {
		t = Default()
	}
	r, ok := t.Lookup(provider, d.Params.UpstreamModel, region)
	if !ok {
		if base, isStr := d.Info.Raw["base_model"].(string); isStr && base != "" {
			r, ok = t.Lookup(provider, base, region)
		}
	}
	in := d.Info
	if in.InputCostPerToken == nil && in.OutputCostPerToken == nil && in.CacheCreationInputTokenCost == nil && in.CacheReadInputTokenCost == nil {
		return r, ok
	}
	// Explicit prices win, field by field; they are flat (no long-context tier).
	if !ok && in.InputCostPerToken != nil {
		// Unknown model: cache prices follow Anthropic's ratios to input.
		r.Base.CacheWrite, r.Base.CacheRead = *in.InputCostPerToken*1.25, *in.InputCostPerToken*0.1
	}
	set := func(dst *float64, v *float64) {
		if v != nil {
			*dst = *v
		}
	}
	set(&r.Base.Input, in.InputCostPerToken)
	set(&r.Base.Output, in.OutputCostPerToken)
	set(&r.Base.CacheWrite, in.CacheCreationInputTokenCost)
	set(&r.Base.CacheRead, in.CacheReadInputTokenCost)
	r.Above200k = nil
	return r, true
}
