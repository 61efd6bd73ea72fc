package inference

import (
	"encoding/binary"

	"github.com/autoclipd/autoclipd/internal/half"
)

// toHalf writes src as little-endian float16 into dst (2 bytes each).
func toHalf(dst []byte, src []float32) {
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], half.Bits(v))
	}
}

// fromHalf reads little-endian float16 from src into dst.
func fromHalf(dst []float32, src []byte) {
	for i := range dst {
		dst[i] = half.Float32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}
