package daemon

import (
	"bytes"
	"image"
	"image/jpeg"

	"github.com/autoclipd/autoclipd/capture"
)

// snapshotJPEG encodes a frame's packed BGR pixels as a JPEG (quality 85).
// It runs only for frames that start an event.
func snapshotJPEG(f *capture.Frame) ([]byte, error) {
	img := image.NewRGBA(image.Rect(0, 0, f.Width, f.Height))
	for i, j := 0, 0; i+2 < len(f.Data) && j+3 < len(img.Pix); i, j = i+3, j+4 {
		img.Pix[j], img.Pix[j+1], img.Pix[j+2], img.Pix[j+3] = f.Data[i+2], f.Data[i+1], f.Data[i], 255
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
