package daemon

import (
	"context"
	"fmt"
	"strings"

	"github.com/autoclipd/autoclipd/config"
	"github.com/autoclipd/autoclipd/events"
	"github.com/autoclipd/autoclipd/publish"
)

// control listens on the control topics (<camera>/set, <camera>/labels/set)
// and on Home Assistant's birth topic through the publisher, which
// subscribes again after every reconnect. Messages are applied one at a
// time, in arrival order, off the MQTT client's goroutine.
type control struct {
	d    *daemon
	msgs chan controlMsg
}

type controlMsg struct {
	topic   string
	payload []byte
}

// startControl subscribes to the control topics.
func (d *daemon) startControl(ctx context.Context) (*control, error) {
	cfg := d.config()
	c := &control{d: d, msgs: make(chan controlMsg, 64)}
	prefix := publish.JoinTopic(cfg.MQTT.TopicPrefix, cfg.Device)
	handler := func(topic string, payload []byte) {
		select {
		case c.msgs <- controlMsg{topic, append([]byte(nil), payload...)}:
		default:
			d.log.Warn("control message dropped: too many at once", "topic", topic)
		}
	}
	var filters []string
	for _, f := range events.ControlFilters() {
		filters = append(filters, prefix+"/"+f)
	}
	var birth string
	if cfg.HomeAssistant.Enabled {
		birth = d.discovery().BirthTopic()
		filters = append(filters, birth)
	}
	for _, f := range filters {
		if err := d.pub.Subscribe(f, 1, handler); err != nil {
			return nil, fmt.Errorf("mqtt: subscribe %s: %w", f, err)
		}
	}
	go c.run(ctx, prefix+"/", birth)
	return c, nil
}

func (c *control) run(ctx context.Context, prefix, birth string) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-c.msgs:
			c.handle(m.topic, m.payload, prefix, birth)
		}
	}
}

// handle applies one control message.
func (c *control) handle(topic string, payload []byte, prefix, birth string) {
	d := c.d
	if birth != "" && topic == birth {
		if d.discovery().IsBirth(topic, payload) {
			d.log.Info("home assistant is online: announcing the cameras again")
			d.publishDiscovery(true)
		}
		return
	}
	rel, ok := strings.CutPrefix(topic, prefix)
	if !ok {
		return
	}
	camera, kind, ok := events.ParseControlTopic(rel)
	if !ok {
		return
	}
	if _, known := d.cameraConfig(camera); !known {
		d.log.Warn("control message for an unknown camera", "topic", topic)
		return
	}
	switch kind {
	case events.ControlEnabled:
		on, err := events.ParseEnabled(payload)
		if err != nil {
			d.log.Warn("control message ignored", "topic", topic, "err", err)
			return
		}
		d.setEnabled(camera, on)
	case events.ControlLabels:
		name, err := events.ParseLabelSet(payload, func(name string) error {
			cfg := d.config()
			_, err := config.LoadLabelSet(cfg.Labels.Dir, name, cfg.Labels.Templates)
			return err
		})
		if err != nil {
			d.log.Warn("control message ignored", "topic", topic, "err", err)
			return
		}
		d.setLabels(camera, name)
	}
}

// cameraConfig returns the camera's configuration with the run-time
// overrides applied.
func (d *daemon) cameraConfig(name string) (config.Camera, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, cc := range d.cfg.Cameras {
		if cc.Name == name {
			if on, ok := d.enabled[name]; ok {
				cc.Enabled = on
			}
			if set, ok := d.labelsOverride[name]; ok {
				cc.Labels = set
			}
			return cc, true
		}
	}
	return config.Camera{}, false
}

// setEnabled switches a camera on or off at run time and echoes the state.
func (d *daemon) setEnabled(name string, on bool) {
	d.camOps.Lock()
	defer d.camOps.Unlock()
	d.mu.Lock()
	d.enabled[name] = on
	r := d.cams[name]
	if !on && r != nil {
		delete(d.cams, name)
	}
	d.mu.Unlock()
	switch {
	case !on && r != nil:
		r.stop()
		d.metrics.Camera(name).SetEnabled(false)
		d.log.Info("camera switched off", "camera", name)
	case on && r == nil:
		cc, _ := d.cameraConfig(name)
		if err := d.startCamera(d.camCtx, cc); err != nil {
			d.log.Error("camera not started", "camera", name, "err", err)
			return
		}
		d.log.Info("camera switched on", "camera", name)
	}
	d.send(events.EnabledMessage(name, on))
}

// setLabels switches a camera to another label set at run time (the
// camera is restarted with it) and echoes the set.
func (d *daemon) setLabels(name, set string) {
	d.camOps.Lock()
	defer d.camOps.Unlock()
	if cc, _ := d.cameraConfig(name); cc.Labels == set {
		d.send(events.LabelsMessage(name, set))
		return
	}
	d.mu.Lock()
	d.labelsOverride[name] = set
	r := d.cams[name]
	if r != nil {
		delete(d.cams, name)
	}
	d.mu.Unlock()
	if r != nil {
		r.stop()
		cc, _ := d.cameraConfig(name)
		if err := d.startCamera(d.camCtx, cc); err != nil {
			d.log.Error("camera not restarted with its new label set", "camera", name, "set", set, "err", err)
			return
		}
	}
	d.log.Info("camera label set switched", "camera", name, "set", set)
	d.send(events.LabelsMessage(name, set))
	d.publishDiscovery(false)
}

// echoControls publishes every camera's enabled state and label set,
// retained, so controllers start in sync.
func (d *daemon) echoControls() {
	cfg := d.config()
	for _, cc := range cfg.Cameras {
		cc, _ := d.cameraConfig(cc.Name)
		d.send(events.EnabledMessage(cc.Name, cc.Enabled))
		d.send(events.LabelsMessage(cc.Name, cc.Labels))
	}
}

// discovery is the Home Assistant discovery of the current config.
func (d *daemon) discovery() events.Discovery {
	cfg := d.config()
	return events.Discovery{
		Prefix: cfg.HomeAssistant.Prefix, TopicPrefix: cfg.MQTT.TopicPrefix, Device: cfg.Device,
		SWVersion: d.version, QoS: byte(cfg.MQTT.EventsQoS),
	}
}
