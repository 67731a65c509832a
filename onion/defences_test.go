package onion

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
)

// SetPoWKeywords replaces ADD_ONION's proof-of-work arguments (tests only:
// a keyword tor does not know exercises the fallback against a real tor).
func SetPoWKeywords(s string) (restore func()) {
	old := powKeywords
	powKeywords = s
	return func() { powKeywords = old }
}

func TestAddOnionCommand(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	with := addOnionCommand(key, "127.0.0.1:5000", true)
	without := addOnionCommand(key, "127.0.0.1:5000", false)
	for _, want := range []string{"ADD_ONION ED25519-V3:", " Flags=MaxStreamsCloseCircuit MaxStreams=4 ", " Port=7467,127.0.0.1:5000"} {
		if !strings.Contains(with, want) || !strings.Contains(without, want) {
			t.Errorf("command lacks %q:\n%s\n%s", want, with, without)
		}
	}
	if !strings.Contains(with, " PoWDefensesEnabled=1 PoWQueueRate=25 PoWQueueBurst=250 ") || strings.Contains(without, "PoW") {
		t.Errorf("proof-of-work arguments wrong:\n%s\n%s", with, without)
	}
	// What tor 0.4.9 answers to an unknown keyword, and to other failures.
	if !powRefused(errors.New(`512 Bad arguments to ADD_ONION: Unrecognized keyword argument "PoWDefensesEnabled"`)) {
		t.Error("an old tor's refusal is not recognised")
	}
	for _, e := range []error{nil, errors.New("550 Onion address collision"), errors.New("512 Invalid 'Flags' argument")} {
		if powRefused(e) {
			t.Errorf("%v taken for a refusal of proof of work", e)
		}
	}
}
