package node

import (
	"testing"

	"github.com/chive-im/chive/onion/testnet"
)

// TestConvoTor runs the conversation features between two nodes over real
// tor processes on the private network, both ways: replies, reactions,
// edits, deletions, changes that arrive before their message, disappearing
// messages (their text then in no database, log or index file), search, and
// a backup restored on a fresh profile that sends and receives again.
func TestConvoTor(t *testing.T) {
	testnet.Shared(t)
	checkLeaks(t)
	nodes := startTorAll(t, newProfile(t, "alice"), newProfile(t, "bob"))
	alice, bob := nodes[0], nodes[1]
	befriend(t, alice, bob, torWait)
	ok := t.Run("AliceToBob", func(t *testing.T) { convoScenario(t, alice, bob, torWait) }) &&
		t.Run("BobToAlice", func(t *testing.T) { convoScenario(t, bob, alice, torWait) }) &&
		t.Run("OutOfOrder", func(t *testing.T) {
			outOfOrder(t, alice, bob, torWait)
			outOfOrder(t, bob, alice, torWait)
		}) &&
		t.Run("Disappearing", func(t *testing.T) { disappearing(t, alice, bob, torWait) }) &&
		t.Run("Search", func(t *testing.T) { searchScenario(t, alice, bob, torWait) })
	if !ok {
		t.FailNow()
	}
	t.Run("BackupRestore", func(t *testing.T) {
		backupRestore(t, alice, bob, torWait, func(tb testing.TB, dir string) *tnode { return startTorOwned(tb, t, dir) })
	})
}
