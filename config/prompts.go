package config

import (
	"fmt"
	"math"
)

// PromptPlan says which prompts a label set needs encoded and how their
// embeddings combine into AutoCLIP's K x C class descriptors e_ij.
//
// Prompts lists every distinct prompt once (first use order). Groups has K*C
// entries, template-major like the descriptors: Groups[i*C+j] holds the
// indices into Prompts of template i filled with class j's name and then with
// each of its aliases. e_ij is the mean of those prompts' embeddings,
// L2-normalised again; Combine does that.
type PromptPlan struct {
	Prompts []string
	Groups  [][]int
	// K and C are the number of templates and classes.
	K, C int
}

// PromptPlan returns the set's prompt plan. Encode plan.Prompts (each once:
// prompts shared by classes or templates are not repeated), then call
// plan.Combine on the embeddings to get the [K][C][D] descriptors.
func (s *LabelSet) PromptPlan() PromptPlan {
	p := PromptPlan{K: len(s.Templates), C: len(s.Classes)}
	index := map[string]int{}
	p.Groups = make([][]int, 0, p.K*p.C)
	for _, d := range s.Descriptors() {
		g := make([]int, 0, len(d))
		for _, prompt := range d {
			i, ok := index[prompt]
			if !ok {
				i = len(p.Prompts)
				index[prompt] = i
				p.Prompts = append(p.Prompts, prompt)
			}
			g = append(g, i)
		}
		p.Groups = append(p.Groups, g)
	}
	return p
}

// Combine turns the embeddings of p.Prompts ([len(Prompts)][dim], row-major)
// into the K x C descriptors ([K][C][dim], row-major): each entry is the mean
// of its group's embeddings, L2-normalised. The embeddings need not be
// normalised themselves.
func (p PromptPlan) Combine(emb []float32, dim int) ([]float32, error) {
	if dim <= 0 || len(emb) != len(p.Prompts)*dim {
		return nil, fmt.Errorf("config: %d embedding values for %d prompts of dimension %d", len(emb), len(p.Prompts), dim)
	}
	out := make([]float32, len(p.Groups)*dim)
	acc := make([]float64, dim)
	for g, idx := range p.Groups {
		clear(acc)
		for _, i := range idx {
			for d, v := range emb[i*dim : (i+1)*dim] {
				acc[d] += float64(v)
			}
		}
		var norm float64
		for _, v := range acc {
			norm += v * v
		}
		norm = math.Sqrt(norm)
		if norm == 0 || math.IsNaN(norm) || math.IsInf(norm, 0) {
			return nil, fmt.Errorf("config: descriptor %d (template %d, class %d) has norm %v", g, g/p.C, g%p.C, norm)
		}
		row := out[g*dim : (g+1)*dim]
		for d, v := range acc {
			row[d] = float32(v / norm)
		}
	}
	return out, nil
}

// Thresholds returns each class's event threshold in class order; 0 where a
// class has none.
func (s *LabelSet) Thresholds() []float64 {
	out := make([]float64, len(s.Classes))
	for i, c := range s.Classes {
		out[i] = c.Threshold
	}
	return out
}
