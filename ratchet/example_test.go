package ratchet_test

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/chive-im/chive/ratchet"
)

// A whole session: Alice requests, Bob accepts, both talk.
func Example() {
	now := time.Now()
	alicePub, aliceOnion, _ := ed25519.GenerateKey(nil)
	bobPub, bobOnion, _ := ed25519.GenerateKey(nil)
	alice, _ := ratchet.NewIdentity(aliceOnion, now)
	bob, _ := ratchet.NewIdentity(bobOnion, now)

	// Alice's contact request carries her bundle.
	request, _ := alice.Bundle().MarshalBinary()

	// Bob verifies it against the address the request came from and accepts.
	bundle, err := ratchet.ParseBundle(request, alicePub)
	if err != nil {
		panic(err)
	}
	bobState, handshake, _ := ratchet.Accept(bob, bundle, now)

	// Bob can write at once; the node passes the message id as ad.
	msgID := []byte("0123456789abcdef")
	bobState, msg, _ := bobState.Encrypt([]byte("welcome"), msgID, now)

	// Alice completes whenever the acceptance reaches her, then reads.
	aliceState, err := ratchet.Complete(alice, bobPub, handshake, now)
	if err != nil {
		panic(err)
	}
	aliceState, text, err := aliceState.Decrypt(msg, msgID, now)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(text))
	fmt.Println(ratchet.SafetyNumber(alicePub, bobPub) == ratchet.SafetyNumber(bobPub, alicePub))
	fmt.Println(len(request), len(handshake), len(msg)-len(text))
	_, _ = aliceState, bobState
	// Output:
	// welcome
	// true
	// 1353 2538 122
}
