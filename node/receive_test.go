package node

import (
	"bytes"
	"testing"
	"time"

	"github.com/chive-im/chive/node/nodetest/memnet"
	"github.com/chive-im/chive/wire"
)

// TestBatchOnClosedLink: frames read from a link that closes before their
// answers go out (the link lost to the other of two simultaneous dials)
// are stored all the same, and what they changed is told at once: the
// message shows, the acknowledged message is delivered. The peer resends
// what it has no Ack for on the kept link; that resend is acknowledged and
// shown no second time.
func TestBatchOnClosedLink(t *testing.T) {
	checkLeaks(t)
	mem := memnet.New()
	alice := startMem(t, mem, newProfile(t, "alice"))
	bob := startMem(t, mem, newProfile(t, "bob"))
	befriend(t, alice, bob, memWait)
	p := alice.peer(onionAddr(bob))
	l := alice.currentLink(p)
	if l == nil {
		t.Fatal("no link after befriending")
	}
	mem.SetOffline(onionAddr(alice), true)
	mem.SetOffline(onionAddr(bob), true)
	alice.dropLink(onionAddr(bob))
	bob.dropLink(onionAddr(alice))
	toAlice := mustSend(t, bob, alice.Address(), "crossed")
	toBob := mustSend(t, alice, bob.Address(), "acknowledged")

	// The frame bob's writer would send, and the Ack bob would send for
	// alice's message, arrive together on the link that closed.
	items, err := bob.db.Outbox(t.Context(), mustContactID(t, bob, alice))
	if err != nil {
		t.Fatal(err)
	}
	var msg wire.Msg
	for _, it := range items {
		if it.ID.String() == toAlice.ID {
			typ, body, err := wire.ReadFrame(bytes.NewReader(it.Frame))
			if err != nil {
				t.Fatal(err)
			}
			if msg, err = wire.Unmarshal(typ, body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, ok := msg.(*wire.Message); !ok {
		t.Fatalf("bob's outbox holds no message frame for %s: %v", toAlice.ID, items)
	}
	ackID, err := wire.ParseID(toBob.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.handleBatch(p, l, []wire.Msg{msg, &wire.Ack{ID: ackID}}); err == nil {
		t.Fatal("handleBatch on a closed link: no error, want the failed Ack's")
	}
	// Events reach the test's subscription a moment after they are published.
	if got := alice.waitReceived(t, 10*time.Second, bob.Address(), 1); got[0] != "crossed" {
		t.Fatalf("after the batch on the closed link alice was told of %q, want [crossed]", got)
	}
	delivered := func(id string) func(Event) bool {
		return func(e Event) bool {
			s, ok := e.(MessageStateEvent)
			return ok && s.ID == id && s.State == Delivered
		}
	}
	alice.waitFor(t, 10*time.Second, "delivery told by the Ack on the closed link", delivered(toBob.ID))

	// Bob never got the Ack: he resends on the next link, alice
	// acknowledges the resend and shows nothing twice.
	mem.SetOffline(onionAddr(alice), false)
	mem.SetOffline(onionAddr(bob), false)
	alice.redialNow(p)
	bob.redialNow(bob.peer(onionAddr(alice)))
	bob.waitFor(t, memWait, "delivery of the resend", delivered(toAlice.ID))
	if got := alice.received(bob.Address()); len(got) != 1 {
		t.Fatalf("alice was told of %q, want [crossed] once", got)
	}
}
