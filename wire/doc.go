// Package wire is chive's link protocol: how two onions talk once Tor has
// connected them.
//
// A link is one stream (a net.Conn through Tor) between two chive nodes. The
// handshake (Server and Client) exchanges ephemeral X25519 and ML-KEM-768
// keys, derives one key per direction from both secrets, and then each side
// proves its onion key by signing the transcript, sealed under the new keys:
// the dialer first, then the listener. Nothing rests on Tor alone: a tor
// that answers for an onion without its key, or reads, injects, replays or
// drops bytes, cannot complete a handshake or make a frame count. After
// that, both sides exchange length-prefixed frames carrying CBOR bodies,
// each sealed (ChaCha20-Poly1305, the frame number as nonce). Most callers want:
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
// MaxFrameSize for a frame a caller builds; sealing adds SealOverhead on the
// wire. Larger frames are rejected before any allocation. The link keeps
// itself alive with pings when idle and closes when nothing has been
// received for Config.Timeout.
//
// wire knows nothing of onion addresses, storage or ratchets: it deals in
// raw ed25519 keys and opaque byte strings (bundles, handshakes, ciphertexts).
package wire
