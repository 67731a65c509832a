package tui

import (
	"strings"
	"testing"

	"github.com/chive-im/chive/node"
)

// TestStoredState (issue 16): "stored in a mailbox" has its own mark and
// sits between sent and delivered, so events move a message forward only.
func TestStoredState(t *testing.T) {
	st := DefaultStyles(true)
	if m := stateMark(&st, node.Stored); !strings.Contains(m, "⌂") {
		t.Errorf("stored mark %q", m)
	}
	if !(rank(node.Sent) < rank(node.Stored) && rank(node.Stored) < rank(node.Delivered)) {
		t.Error("stored is not between sent and delivered")
	}
	c := &conversation{msgs: []node.Message{{ID: "m1", Direction: node.Outgoing, State: node.Sent}}}
	if !c.update("m1", node.Stored, c.msgs[0].Time, "") || c.msgs[0].State != node.Stored {
		t.Fatalf("sent → stored: %s", c.msgs[0].State)
	}
	c.update("m1", node.Sent, c.msgs[0].Time, "") // a late "sent" event
	if c.msgs[0].State != node.Stored {
		t.Errorf("stored went back to %s", c.msgs[0].State)
	}
	c.update("m1", node.Delivered, c.msgs[0].Time, "")
	if c.msgs[0].State != node.Delivered {
		t.Errorf("stored → delivered: %s", c.msgs[0].State)
	}
}
