// Package wire is chive's link protocol: how two onions talk once Tor has
// connected them.
//
// A link is one stream (a net.Conn through Tor) between two chive nodes. The
// listener is authenticated by Tor itself (the dialer reached its onion
// address); the dialer proves the onion address it claims with a signature
// over both onion keys and a fresh nonce from each side (see Server and
// Client). After that, both sides exchange length-prefixed frames carrying
// CBOR bodies. Most callers want:
//
//	l, err := wire.Client(ctx, conn, myKey, peerKey, nil) // or wire.Server
//	err = l.Send(&wire.Message{ID: wire.NewID(), Ciphertext: ct})
//	m, err := l.Recv(ctx) // *wire.Request, *wire.Accept, *wire.Message, ...
//
// Frame layout (all integers big-endian):
//
//	length uint32 | version uint8 | type uint8 | body (CBOR)
//
// where length counts the version, type and body bytes and never exceeds
// MaxFrameSize; larger frames are rejected before any allocation. The link
// keeps itself alive with pings when idle and closes when nothing has been
// received for Config.Timeout.
//
// wire knows nothing of onion addresses, storage or ratchets: it deals in
// raw ed25519 keys and opaque byte strings (bundles, handshakes, ciphertexts).
package wire
