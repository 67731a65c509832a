package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The testnet command's argument handling; starting a real network is
// tested in onion/testnet.
func TestTestnetUsage(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"testnet"}, exitUsage, `want "up" or "down"`},
		{[]string{"testnet", "sideways", "--dir", dir}, exitUsage, `unknown subcommand "sideways"`},
		{[]string{"testnet", "up", "--relays", "0", "--dir", dir}, exitUsage, "--relays must be at least 1"},
		{[]string{"testnet", "down", "--dir", dir}, exitError, "no test network is running there"},
		{[]string{"testnet", "down", "--tor-testnet", dir}, exitError, dir},
	} {
		var stdout, stderr bytes.Buffer
		e := &env{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}
		code := run(context.Background(), tt.args, e)
		if code != tt.code || !strings.Contains(stderr.String(), tt.stderr) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tt.args, code, stderr.String(), tt.code, tt.stderr)
		}
	}
}
