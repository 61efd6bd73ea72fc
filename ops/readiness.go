package ops

import (
	"errors"
	"fmt"
	"time"
)

// UnlimitedFPSWindow is the readiness window of a camera without an fps
// limit (fps 0): as if it were limited to 1 frame per second.
const UnlimitedFPSWindow = 3 * time.Second

// CameraStatus is what the readiness rule needs to know about one camera.
type CameraStatus struct {
	Name       string
	FPS        float64   // configured frame rate limit; 0 means no limit
	LastScored time.Time // zero if no frame was scored yet
	Enabled    bool
}

// ReadyWindow returns how recently a camera limited to fps frames per second
// must have scored a frame to count as ready: 3/fps seconds, or
// UnlimitedFPSWindow when fps is 0 (no limit) or not a positive number.
func ReadyWindow(fps float64) time.Duration {
	if !(fps > 0) {
		return UnlimitedFPSWindow
	}
	return time.Duration(3 / fps * float64(time.Second))
}

// CheckReady applies the readiness rule at time now: ready (nil) when every
// enabled camera scored a frame within ReadyWindow(fps); otherwise an error
// naming each camera that is behind and why, one per line. Disabled cameras
// are ignored, so with every camera switched off the daemon is ready.
func CheckReady(cams []CameraStatus, now time.Time) error {
	var errs []error
	for _, c := range cams {
		if !c.Enabled {
			continue
		}
		window := ReadyWindow(c.FPS)
		if c.LastScored.IsZero() {
			errs = append(errs, fmt.Errorf("camera %q: no frame scored yet", c.Name))
			continue
		}
		if age := now.Sub(c.LastScored); age > window {
			errs = append(errs, fmt.Errorf("camera %q: last frame scored %s ago, more than 3/fps = %s (fps %g)",
				c.Name, age.Round(time.Millisecond), window, c.FPS))
		}
	}
	return errors.Join(errs...)
}

// Status returns the camera's readiness input: its name, the given
// configured fps limit, its last scored time and whether it is enabled.
func (c *Camera) Status(fps float64) CameraStatus {
	return CameraStatus{Name: c.name, FPS: fps, LastScored: c.LastScored(), Enabled: c.Enabled()}
}
