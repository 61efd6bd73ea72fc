package capture

/*
#cgo pkg-config: opencv4
#cgo CXXFLAGS: --std=c++11
#include <stdlib.h>
#include "jpeg.h"
*/
import "C"

import (
	"fmt"
	"strings"
	"unsafe"

	"gocv.io/x/gocv"
)

// DecodeScale values of Config.DecodeScale.
const (
	// DecodeScaleAuto decodes JPEG frames at the largest of 1/2, 1/4 and 1/8
	// that keeps Config.MinSide pixels on the short side of the region of
	// interest; full size when MinSide is 0.
	DecodeScaleAuto = 0
	// DecodeScaleFull always decodes frames at full size.
	DecodeScaleFull = 1
)

// decodeScales are the reductions libjpeg does in the DCT domain.
var decodeScales = []int{8, 4, 2}

// checkDecodeScale tells what is wrong with a Config.DecodeScale.
func checkDecodeScale(s int) error {
	switch s {
	case DecodeScaleAuto, DecodeScaleFull, 2, 4, 8:
		return nil
	}
	return fmt.Errorf("must be 0 (auto), 1, 2, 4 or 8, got %d", s)
}

// chooseDecodeScale is the reduction to decode a w x h frame at: scale when
// it is fixed (1, 2, 4, 8), or with DecodeScaleAuto the largest reduction
// that leaves the region of interest (the whole frame for the zero ROI)
// at least minSide pixels on its short side.
func chooseDecodeScale(scale, minSide, w, h int, roi ROI, rotate int) int {
	if scale != DecodeScaleAuto {
		return scale
	}
	if minSide <= 0 || w <= 0 || h <= 0 {
		return 1
	}
	short := min(w, h)
	if !roi.IsZero() {
		r := roi.rect(w, h, rotate)
		short = min(r.Dx(), r.Dy())
	}
	for _, s := range decodeScales {
		// libjpeg rounds reduced sizes up; rounding down keeps this safe.
		if short/s >= minSide && w/s >= MinFrameSide && h/s >= MinFrameSide {
			return s
		}
	}
	return 1
}

// imreadFlag is the imdecode flag for colour at scale.
func imreadFlag(scale int) gocv.IMReadFlag {
	switch scale {
	case 2:
		return gocv.IMReadReducedColor2
	case 4:
		return gocv.IMReadReducedColor4
	case 8:
		return gocv.IMReadReducedColor8
	}
	return gocv.IMReadColor
}

// isJPEGCodec tells whether a FOURCC that OpenCV's FFmpeg backend reports is
// Motion JPEG: the container's tag ("MJPG", "AVRn", ...) or, for streams
// without one (RTSP, HTTP multipart), the first four letters of FFmpeg's
// codec name ("mjpe").
func isJPEGCodec(fourcc string) bool {
	switch strings.ToUpper(fourcc) {
	case "MJPG", "MJPE", "AVRN", "JPEG", "DMB1", "AVDJ":
		return true
	}
	return false
}

// jpegDecoder decodes JPEG packets into one Mat (the Go-side Mat is kept;
// OpenCV reallocates its pixels per frame), reduced in the
// DCT domain (libjpeg's scale_denom): at 1/4, a 1920x1080 frame costs
// about a fifth of a full decode and comes out 480x270.
type jpegDecoder struct {
	flag C.int
	dst  gocv.Mat
	err  [256]C.char
}

func newJPEGDecoder(scale int) *jpegDecoder {
	return &jpegDecoder{flag: C.int(imreadFlag(scale)), dst: gocv.NewMat()}
}

// decode decodes the encoded bytes in buf (a 1-row CV_8U Mat, as OpenCV's
// FFmpeg backend hands out packets in raw mode). The result is valid until
// the next decode.
func (d *jpegDecoder) decode(buf *gocv.Mat) (*gocv.Mat, error) {
	if buf.Empty() || buf.Type() != gocv.MatTypeCV8UC1 || !buf.IsContinuous() {
		return nil, badFrame("raw packet is not a continuous byte row (%v, %dx%d)", buf.Type(), buf.Cols(), buf.Rows())
	}
	data, err := buf.DataPtrUint8()
	if err != nil || len(data) == 0 {
		return nil, badFrame("raw packet: no bytes")
	}
	switch C.autoclipd_imdecode(unsafe.Pointer(&data[0]), C.int(len(data)), d.flag, unsafe.Pointer(d.dst.Ptr()), &d.err[0], C.int(len(d.err))) {
	case 1:
		return &d.dst, nil
	case 0:
		return nil, badFrame("a %d-byte packet is not a JPEG image OpenCV can decode", len(data))
	default:
		return nil, badFrame("decoding a %d-byte JPEG packet: %s", len(data), C.GoString(&d.err[0]))
	}
}

func (d *jpegDecoder) close() { d.dst.Close() }
