package node

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/chive-im/chive/internal/safetext"
)

// TestNodeLoggerIsSafe: the logger a caller passes is wrapped.
func TestNodeLoggerIsSafe(t *testing.T) {
	var buf bytes.Buffer
	n, err := Open(t.Context(), Options{Dir: newProfile(t, "a"), Passphrase: testPass, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, ok := n.log.Handler().(safetext.LogHandler); !ok {
		t.Fatalf("node logs through %T, not safetext.LogHandler", n.log.Handler())
	}
}
