package preprocess_test

import (
	"fmt"

	"github.com/autoclipd/autoclipd/inference/preprocess"
)

// A 640x480 mid-grey BGR frame through OpenAI CLIP's preprocessing.
func Example() {
	p, err := preprocess.New(preprocess.DefaultConfig())
	if err != nil {
		panic(err)
	}
	const w, h = 640, 480
	frame := make([]byte, 3*w*h)
	for i := range frame {
		frame[i] = 128
	}
	oh, ow := p.OutputSize()
	dst := make([]float32, 3*oh*ow)
	if err := p.Run(dst, frame, w, h, 3*w, preprocess.BGR); err != nil {
		panic(err)
	}
	rh, rw := p.ResizedSize(w, h)
	fmt.Printf("resized to %dx%d, cropped to %dx%d\n", rw, rh, ow, oh)
	fmt.Printf("R %.4f  G %.4f  B %.4f\n", dst[0], dst[oh*ow], dst[2*oh*ow])
	// Output:
	// resized to 298x224, cropped to 224x224
	// R 0.0763  G 0.1689  B 0.3399
}
