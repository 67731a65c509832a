// Package chive_test holds repository-wide checks; chive's code lives in the
// packages below this directory.
package chive_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/chive-im/chive"

type pkg struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

// TestImportRules keeps the architecture honest: imports point down, the
// crypto and wire packages stand alone, and only onion/ talks to bine.
func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-e", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen++
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		for _, imp := range p.Imports {
			if msg := violation(rel, imp); msg != "" {
				t.Errorf("%s imports %s: %s", p.ImportPath, imp, msg)
			}
		}
	}
	if seen == 0 {
		t.Fatal("go list found no packages")
	}
}

func under(rel, dir string) bool { return rel == dir || strings.HasPrefix(rel, dir+"/") }

func violation(rel, imp string) string {
	ours := strings.HasPrefix(imp, module+"/")
	impRel := strings.TrimPrefix(imp, module+"/")
	switch {
	case strings.HasPrefix(imp, "github.com/cretz/bine") && !under(rel, "onion"):
		return "only onion/ may use bine"
	case !ours:
		return ""
	case under(rel, "ratchet") || under(rel, "wire"):
		return "ratchet and wire import nothing of ours"
	case under(rel, "internal") && !under(impRel, "internal"):
		return "internal/ helpers are leaves: they import nothing of ours"
	case under(impRel, "internal"):
		return "" // leaf helpers (safetext, qr, shell) serve every layer
	case under(impRel, "cmd"):
		return "nothing imports cmd"
	case under(impRel, "tui") && !under(rel, "cmd") && !under(rel, "tui"):
		return "only cmd imports tui"
	case under(rel, "storage") && !under(impRel, "storage"):
		return "storage stands on nothing of ours"
	case under(rel, "contacts") && !(under(impRel, "storage") || under(impRel, "onion") || under(impRel, "contacts")):
		return "contacts uses only storage and onion"
	case under(rel, "groups") && !(under(impRel, "ratchet") || under(impRel, "wire") || under(impRel, "groups")):
		return "groups is pure logic over ratchet and wire: node wires it to storage and links"
	case under(rel, "mailbox") && !(under(impRel, "storage") || under(impRel, "wire") || under(impRel, "onion") || under(impRel, "mailbox")):
		return "mailbox uses only storage, wire and onion"
	case under(rel, "files") && !(under(impRel, "storage") || under(impRel, "wire") || under(impRel, "files")):
		return "files uses only storage and wire (the node wires it to links, contacts and events)"
	case under(rel, "onion") && !under(impRel, "onion"):
		return "onion stands on nothing of ours"
	case under(rel, "node") && !under(rel, "node/rpc") && !under(rel, "node/nodetest") && (under(impRel, "node/rpc") || under(impRel, "node/nodetest")):
		return "the engine does not import its clients"
	case under(rel, "node") && under(impRel, "onion/testnet"):
		return "the node gets the test network's torrc lines through Options.ExtraTorrc"
	case under(rel, "tui") && (under(impRel, "storage") || under(impRel, "contacts") || under(impRel, "wire") || under(impRel, "ratchet") || under(impRel, "mailbox") || under(impRel, "files") || under(impRel, "groups")):
		return "tui talks only to the node's API"
	}
	return ""
}

func TestViolationRules(t *testing.T) {
	for _, tc := range []struct {
		rel, imp string
		bad      bool
	}{
		{"ratchet", module + "/wire", true},
		{"wire", "github.com/fxamacker/cbor/v2", false},
		{"node", "github.com/cretz/bine/tor", true},
		{"onion", "github.com/cretz/bine/tor", false},
		{"node", module + "/tui", true},
		{"cmd/chive", module + "/tui", false},
		{"node", module + "/storage", false},
		{"tui", module + "/storage", true},
		{"tui", module + "/node", false},
		{"storage", module + "/ratchet", true},
		{"storage", module + "/internal/shell", false},
		{"wire", module + "/internal/safetext", true},
		{"internal/qr", module + "/onion", true},
		{"node", module + "/internal/safetext", false},
		{"node", module + "/onion/testnet", true},
		{"cmd/chive", module + "/onion/testnet", false},
		{"groups", module + "/ratchet", false},
		{"groups", module + "/storage", true},
		{"groups", module + "/onion", true},
		{"node", module + "/groups", false},
		{"tui", module + "/groups", true},
		{"mailbox", module + "/storage", false},
		{"mailbox", module + "/node", true},
		{"mailbox", module + "/contacts", true},
		{"node", module + "/mailbox", false},
		{"tui", module + "/mailbox", true},
		{"node", module + "/files", false},
		{"files", module + "/storage", false},
		{"files", module + "/wire", false},
		{"files", module + "/internal/media", false},
		{"files", module + "/contacts", true},
		{"files", module + "/node", true},
		{"tui", module + "/files", true},
		{"tui", module + "/internal/media", false},
	} {
		if got := violation(tc.rel, tc.imp) != ""; got != tc.bad {
			t.Errorf("violation(%s, %s) = %v, want %v", tc.rel, tc.imp, got, tc.bad)
		}
	}
}
