package config

import (
	"math"

	"github.com/autoclipd/autoclipd/autoclip"
)

// Options returns the scoring options the config asks for.
func (a AutoCLIP) Options() autoclip.Options {
	o := autoclip.DefaultOptions()
	if a.Method != "" {
		o.Method = autoclip.Method(a.Method)
	}
	if a.Aggregation != "" {
		o.Aggregation = autoclip.Aggregation(a.Aggregation)
	}
	if a.Beta != 0 {
		o.Beta = a.Beta
	}
	if a.Scale != 0 {
		o.Scale = a.Scale
	}
	if a.LogitScale != 0 {
		o.LogitScale = a.LogitScale
	}
	return o
}

func (a *AutoCLIP) finish(c *Config) error {
	if a.Method != "" {
		if _, err := autoclip.ParseMethod(a.Method); err != nil {
			return c.errorf("autoclip.method", "%v", err)
		}
	}
	if a.Aggregation != "" {
		if _, err := autoclip.ParseAggregation(a.Aggregation); err != nil {
			return c.errorf("autoclip.aggregation", "%v", err)
		}
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"autoclip.beta", a.Beta}, {"autoclip.scale", a.Scale}, {"autoclip.logit_scale", a.LogitScale}} {
		_, set := c.lines[f.name]
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 || (set && f.v == 0) {
			return c.errorf(f.name, "must be a positive number, got %v", f.v)
		}
	}
	if a.Beta > 1 {
		return c.errorf("autoclip.beta", "must be in (0, 1], got %v", a.Beta)
	}
	if a.Beta == 0 {
		a.Beta = DefaultBeta
	}
	if err := a.Options().Validate(); err != nil {
		return c.errorf("autoclip", "%v", err)
	}
	return nil
}
