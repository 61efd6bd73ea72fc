package config

import "sort"

// The built-in prompt template sets. They are written for this project:
// camera frames of everyday scenes, seen in many qualities, lights, angles and
// sizes. AutoCLIP weighs the templates per frame, and its gain grows with the
// number of templates, so "default" is deliberately varied.
var templateSets = map[string][]string{
	"simple": {"a photo of a {}."},
	"default": {
		// plain photographs
		"a photo of a {}.",
		"a photo of the {}.",
		"a photo of something {}.",
		"a picture of a {}.",
		"an image showing a {}.",
		"a camera frame with a {}.",
		"a snapshot of a {}.",
		"a security camera image of a {}.",
		// quality
		"a blurry photo of a {}.",
		"a sharp photo of a {}.",
		"a grainy photo of a {}.",
		"a low resolution photo of a {}.",
		"a high resolution photo of a {}.",
		"a noisy image of a {}.",
		"an out of focus photo of a {}.",
		"a compressed jpeg of a {}.",
		// light
		"a bright photo of a {}.",
		"a dark photo of a {}.",
		"a photo of a {} at night.",
		"a photo of a {} in daylight.",
		"a photo of a {} in harsh sunlight.",
		"a backlit photo of a {}.",
		"an overexposed photo of a {}.",
		"a photo of a {} at dusk.",
		// viewpoint and framing
		"a close-up photo of a {}.",
		"a photo of a {} seen from far away.",
		"a photo of a {} from above.",
		"a photo of a {} from the side.",
		"a cropped photo of a {}.",
		"a wide angle photo of a {}.",
		"a photo of a {} in the corner of the frame.",
		"a photo of a partly hidden {}.",
		// size and count
		"a photo of a small {}.",
		"a photo of a big {}.",
		"a photo of one {}.",
		"a photo of several {}.",
		// styles
		"a drawing of a {}.",
		"a sketch of a {}.",
		"a painting of a {}.",
		"a cartoon {}.",
		"a 3d render of a {}.",
		"a low-poly render of a {}.",
		"a pixelated image of a {}.",
		// context
		"a photo of a {} outdoors.",
		"a photo of a {} indoors.",
		"a photo of a {} in the rain.",
		"a photo of a {} on the street.",
		"a photo of a {} in a room.",
	},
}

// TemplateSet returns a copy of the built-in template set name.
func TemplateSet(name string) ([]string, bool) {
	t, ok := templateSets[name]
	if !ok {
		return nil, false
	}
	return append([]string(nil), t...), true
}

// TemplateSetNames lists the built-in template sets, sorted.
func TemplateSetNames() []string {
	names := make([]string, 0, len(templateSets))
	for n := range templateSets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
