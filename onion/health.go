package onion

import (
	"fmt"

	"github.com/cretz/bine/control"
)

// Refresh asks tor for clean circuits and forgets what its client side
// learned about onion services: cached descriptors, failed introduction
// points, and which HSDirs it asked lately (tor asks an HSDir for the same
// descriptor at most every 15 minutes, so lookups that failed while the
// network was frozen would otherwise keep failing long after it is back).
// It is tor's NEWNYM signal, which tor rate-limits (a second call within
// seconds is delayed by tor, not refused).
func (t *Tor) Refresh() error {
	if err := t.request(func(c *control.Conn) error { return c.Signal("NEWNYM") }); err != nil {
		return fmt.Errorf("onion: refresh: %w", err)
	}
	return nil
}
