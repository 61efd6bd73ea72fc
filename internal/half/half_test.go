package half

import (
	"math"
	"testing"
)

// TestRoundTrip: every finite half converts to float32 and back to the same
// bits; NaNs stay NaN; ties round to even; overflow becomes infinity.
func TestRoundTrip(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := Float32(uint16(h))
		if h&0x7c00 == 0x7c00 && h&0x3ff != 0 {
			if !math.IsNaN(float64(f)) || Bits(f)&0x7c00 != 0x7c00 || Bits(f)&0x3ff == 0 {
				t.Fatalf("NaN %#04x -> %v -> %#04x", h, f, Bits(f))
			}
			continue
		}
		if got := Bits(f); got != uint16(h) {
			t.Fatalf("%#04x -> %v -> %#04x", h, f, got)
		}
	}
	for _, tt := range []struct {
		in   float32
		want uint16
	}{
		{1, 0x3c00}, {-2, 0xc000}, {65504, 0x7bff}, {1e6, 0x7c00}, {-1e6, 0xfc00},
		{1 + 1.0/2048, 0x3c00},          // tie: rounds to even (down)
		{1 + 3.0/2048, 0x3c02},          // tie: rounds to even (up)
		{5.960464477539063e-08, 0x0001}, // smallest subnormal
	} {
		if got := Bits(tt.in); got != tt.want {
			t.Errorf("Bits(%g) = %#04x, want %#04x", tt.in, got, tt.want)
		}
	}
}
