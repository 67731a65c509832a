package onion

import (
	"crypto/ed25519"
	"fmt"
	"strconv"
	"strings"

	"github.com/cretz/bine/control"
	bineed25519 "github.com/cretz/bine/torutil/ed25519"
)

// Defences are tor's own protections of an onion service against floods,
// asked for on ADD_ONION. A chive peer needs one stream per circuit (two
// for a moment while a link is replaced), so a circuit that opens more is
// closed by tor before its streams reach us; and a flood of introductions
// makes tor ask clients for proof of work (prop 327) before it builds
// rendezvous circuits, so the work falls on whoever floods.
type Defences struct {
	TorVersion string `json:"tor_version,omitempty"` // the running tor's, e.g. "0.4.9.11"
	// MaxStreams is the most streams one rendezvous circuit may open at
	// once; a circuit that opens more is closed (MaxStreamsCloseCircuit).
	MaxStreams int `json:"max_streams"`
	// PoW says tor's proof-of-work defences are on (tor ≥ 0.4.9 built with
	// its pow module; an older tor refuses the keywords and runs without).
	PoW bool `json:"pow"`
	// PoWQueueRate and PoWQueueBurst: introductions per second tor handles
	// from its priority queue, and the queue's burst, when PoW is on.
	PoWQueueRate  int `json:"pow_queue_rate,omitempty"`
	PoWQueueBurst int `json:"pow_queue_burst,omitempty"`
}

// String is a one-line summary for status output.
func (d Defences) String() string {
	s := fmt.Sprintf("at most %d streams per circuit", d.MaxStreams)
	if d.PoW {
		s += fmt.Sprintf(", proof of work on (queue %d/s, burst %d)", d.PoWQueueRate, d.PoWQueueBurst)
	} else {
		s += ", proof of work off (this tor does not support it)"
	}
	if d.TorVersion != "" {
		s += ", tor " + d.TorVersion
	}
	return s
}

// The defences chive asks for. Tor's own PoW queue defaults (250/s, burst
// 2500) suit a busy public service; one person's node sees a handful of
// introductions a minute, and at most every contact reconnecting at once.
const (
	maxStreams    = 4
	powQueueRate  = 25
	powQueueBurst = 250
)

// powKeywords are ADD_ONION's proof-of-work arguments; tests replace them
// with a keyword tor does not know to exercise the fallback.
var powKeywords = fmt.Sprintf("PoWDefensesEnabled=1 PoWQueueRate=%d PoWQueueBurst=%d", powQueueRate, powQueueBurst)

// addOnionCommand is the ADD_ONION line for key's service forwarding the
// virtual port to target, with or without the proof-of-work arguments.
func addOnionCommand(key ed25519.PrivateKey, target string, pow bool) string {
	// bine wants tor's expanded-key form; it converts from the standard
	// library's 64-byte seed||public form.
	k := &control.ED25519Key{KeyPair: bineed25519.FromCryptoPrivateKey(key)}
	cmd := "ADD_ONION " + string(k.Type()) + ":" + k.Blob() +
		" Flags=MaxStreamsCloseCircuit MaxStreams=" + strconv.Itoa(maxStreams)
	if pow {
		cmd += " " + powKeywords
	}
	return cmd + " Port=" + strconv.Itoa(VirtualPort) + "," + target
}

// powRefused reports whether tor refused ADD_ONION because of the
// proof-of-work arguments: an older tor does not know them ("Unrecognized
// keyword argument"), one built without the pow module rejects them.
func powRefused(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "PoW") && (strings.Contains(msg, "512") || strings.Contains(msg, "552") || strings.Contains(msg, "513"))
}

// addOnion publishes key's service with the defences this tor supports:
// with proof of work first, then without if tor refuses the arguments.
func (t *Tor) addOnion(key ed25519.PrivateKey, addr Address, target string) (Defences, error) {
	d := Defences{TorVersion: t.version(), MaxStreams: maxStreams}
	add := func(pow bool) error {
		return t.request(func(c *control.Conn) error {
			resp, err := c.SendRequest("%s", addOnionCommand(key, target, pow))
			if err != nil {
				return err
			}
			for _, line := range resp.Data {
				if id, ok := strings.CutPrefix(line, "ServiceID="); ok && id != string(addr) {
					return fmt.Errorf("tor returned service id %q, want %q", id, addr)
				}
			}
			return nil
		})
	}
	err := add(true)
	if powRefused(err) {
		err = add(false)
	} else if err == nil {
		d.PoW, d.PoWQueueRate, d.PoWQueueBurst = true, powQueueRate, powQueueBurst
	}
	return d, err
}

// version asks tor for its version once; "" if it does not say.
func (t *Tor) version() string {
	t.mu.Lock()
	v := t.torVersion
	t.mu.Unlock()
	if v != "" {
		return v
	}
	t.request(func(c *control.Conn) error {
		kvs, err := c.GetInfo("version")
		for _, kv := range kvs {
			if f := strings.Fields(kv.Val); kv.Key == "version" && len(f) > 0 {
				v = f[0] // "0.4.9.11 (git-…)" on some builds
			}
		}
		return err
	})
	t.mu.Lock()
	t.torVersion = v
	t.mu.Unlock()
	return v
}
