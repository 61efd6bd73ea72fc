package preprocess

import "testing"

// syntheticFrame returns a deterministic packed frame of noise (the cost
// does not depend on the content).
func syntheticFrame(w, h, stride int) []byte {
	f := make([]byte, stride*h)
	s := uint32(12345)
	for i := range f {
		s = s*1664525 + 1013904223
		f[i] = byte(s >> 24)
	}
	return f
}

func benchmarkRun(b *testing.B, cfg Config, w, h int) {
	p, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	oh, ow := p.OutputSize()
	dst := make([]float32, 3*oh*ow)
	frame := syntheticFrame(w, h, 3*w)
	if err := p.Run(dst, frame, w, h, 3*w, BGR); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	b.ResetTimer()
	for b.Loop() {
		if err := p.Run(dst, frame, w, h, 3*w, BGR); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRun measures whole frames through the default (ViT-B/32) config
// and the 336-pixel one.
func BenchmarkRun(b *testing.B) {
	l336 := DefaultConfig()
	l336.Size = Size{ShortestEdge: 336}
	l336.CropSize = Size{Height: 336, Width: 336}
	for _, bc := range []struct {
		name string
		cfg  Config
		w, h int
	}{
		{"1920x1080_to_224", DefaultConfig(), 1920, 1080},
		{"1280x720_to_224", DefaultConfig(), 1280, 720},
		{"640x480_to_224", DefaultConfig(), 640, 480},
		{"1920x1080_to_336", l336, 1920, 1080},
	} {
		b.Run(bc.name, func(b *testing.B) { benchmarkRun(b, bc.cfg, bc.w, bc.h) })
	}
}
