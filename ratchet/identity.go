package ratchet

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

const (
	bundleVersion = 1
	pqEKSize      = mlkem.EncapsulationKeySize768 // 1184
	pqCTSize      = mlkem.CiphertextSize768       // 1088
	// bundle: version | onion key | identity key | prekey | ML-KEM key | created | signature
	bundleSize         = 1 + 32 + 32 + 32 + pqEKSize + 8 + ed25519.SignatureSize
	bundleStrippedSize = bundleSize - pqEKSize // the same layout with the PQ key removed

	bundleSigContext = "chive/v1 bundle signature\x00"

	identityMagic = "CHID"
	// Version 1 has no retired keys; version 2 appends them. An identity
	// without retired keys is still written as version 1.
	identityVersion  = 1
	identityVersion2 = 2
	// identity: magic | version | onion key | identity priv | prekey priv | ML-KEM seed | created | signature
	identitySize = 4 + 1 + 32 + 32 + 32 + mlkem.SeedSize + 8 + ed25519.SignatureSize
	// version 2 then: count (1) | {prekey priv | ML-KEM seed | created | signature | retired}*
	retiredSize = 32 + mlkem.SeedSize + 8 + ed25519.SignatureSize + 8
)

type identityFields struct {
	ik, spk *ecdh.PrivateKey
	pq      *mlkem.DecapsulationKey768
	bundle  Bundle
	// bundleBytes is the marshaled bundle, cached: it is hashed into every
	// handshake transcript.
	bundleBytes []byte
	// retired are earlier prekeys and ML-KEM keys, newest first, kept after
	// a rotation so an acceptance made for an older bundle still completes.
	retired []retiredKeys
}

// retiredKeys is one replaced prekey and ML-KEM key with the bundle that
// published them.
type retiredKeys struct {
	spk         *ecdh.PrivateKey
	pq          *mlkem.DecapsulationKey768
	bundle      Bundle
	bundleBytes []byte
	retired     time.Time // when it was replaced
}

func newIdentity(onionKey ed25519.PrivateKey, now time.Time) (*Identity, error) {
	if len(onionKey) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("ratchet: new identity: onion key has %d bytes, want %d", len(onionKey), ed25519.PrivateKeySize)
	}
	ik, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ratchet: new identity: %w", err)
	}
	spk, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ratchet: new identity: %w", err)
	}
	pq, err := mlkem.GenerateKey768()
	if err != nil {
		return nil, fmt.Errorf("ratchet: new identity: %w", err)
	}
	id := &Identity{identityFields{ik: ik, spk: spk, pq: pq}}
	id.bundle = Bundle{
		OnionKey:    bytes.Clone(onionKey.Public().(ed25519.PublicKey)),
		IdentityKey: ik.PublicKey().Bytes(),
		PreKey:      spk.PublicKey().Bytes(),
		PQKey:       pq.EncapsulationKey().Bytes(),
		Created:     time.Unix(now.Unix(), 0).UTC(),
	}
	unsigned := id.bundle.appendUnsigned(nil)
	id.bundle.Signature = ed25519.Sign(onionKey, signedMessage(unsigned))
	id.bundleBytes = append(unsigned, id.bundle.Signature...)
	return id, nil
}

func signedMessage(unsigned []byte) []byte {
	return append([]byte(bundleSigContext), unsigned...)
}

// appendUnsigned appends everything but the signature.
func (b *Bundle) appendUnsigned(dst []byte) []byte {
	dst = append(dst, bundleVersion)
	dst = append(dst, b.OnionKey...)
	dst = append(dst, b.IdentityKey...)
	dst = append(dst, b.PreKey...)
	dst = append(dst, b.PQKey...)
	return binary.BigEndian.AppendUint64(dst, uint64(b.Created.Unix()))
}

func (b *Bundle) marshal() ([]byte, error) {
	if len(b.OnionKey) != ed25519.PublicKeySize || len(b.IdentityKey) != 32 || len(b.PreKey) != 32 ||
		len(b.Signature) != ed25519.SignatureSize {
		return nil, fmt.Errorf("ratchet: marshal bundle: %w", ErrBundleMalformed)
	}
	if len(b.PQKey) != pqEKSize {
		return nil, fmt.Errorf("ratchet: marshal bundle: %w", ErrBundleDowngrade)
	}
	out := b.appendUnsigned(make([]byte, 0, bundleSize))
	return append(out, b.Signature...), nil
}

func parseBundle(data []byte, onionKey ed25519.PublicKey) (*Bundle, error) {
	b, err := decodeBundle(data)
	if err != nil {
		return nil, fmt.Errorf("ratchet: parse bundle: %w", err)
	}
	if len(onionKey) != ed25519.PublicKeySize || !bytes.Equal(b.OnionKey, onionKey) {
		return nil, fmt.Errorf("ratchet: parse bundle: %w", ErrBundleAddress)
	}
	unsigned := data[:len(data)-ed25519.SignatureSize]
	if !verify(b.OnionKey, signedMessage(unsigned), b.Signature) {
		return nil, fmt.Errorf("ratchet: parse bundle: %w", ErrBundleSignature)
	}
	return b, nil
}

// decodeBundle parses the layout without checking the signature.
func decodeBundle(data []byte) (*Bundle, error) {
	switch {
	case len(data) == 0:
		return nil, ErrBundleMalformed
	case data[0] != bundleVersion:
		return nil, fmt.Errorf("%w %d", ErrBundleVersion, data[0])
	case len(data) == bundleStrippedSize:
		return nil, ErrBundleDowngrade
	case len(data) != bundleSize:
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrBundleMalformed, len(data), bundleSize)
	}
	p := data[1:]
	next := func(n int) []byte { v := bytes.Clone(p[:n]); p = p[n:]; return v }
	b := &Bundle{
		OnionKey:    ed25519.PublicKey(next(32)),
		IdentityKey: next(32),
		PreKey:      next(32),
		PQKey:       next(pqEKSize),
	}
	created := int64(binary.BigEndian.Uint64(next(8)))
	b.Signature = next(ed25519.SignatureSize)
	if created < 0 || created > 1<<40 {
		return nil, fmt.Errorf("%w: creation time out of range", ErrBundleMalformed)
	}
	b.Created = time.Unix(created, 0).UTC()
	if allZero(b.PQKey) {
		return nil, ErrBundleDowngrade
	}
	if _, err := mlkem.NewEncapsulationKey768(b.PQKey); err != nil {
		return nil, fmt.Errorf("%w: ML-KEM key: %v", ErrBundleMalformed, err)
	}
	if _, err := ecdh.X25519().NewPublicKey(b.IdentityKey); err != nil {
		return nil, fmt.Errorf("%w: identity key: %v", ErrBundleMalformed, err)
	}
	if _, err := ecdh.X25519().NewPublicKey(b.PreKey); err != nil {
		return nil, fmt.Errorf("%w: prekey: %v", ErrBundleMalformed, err)
	}
	return b, nil
}

func allZero(b []byte) bool {
	var acc byte
	for _, c := range b {
		acc |= c
	}
	return acc == 0
}

func (id *Identity) marshal() ([]byte, error) {
	out := make([]byte, 0, identitySize)
	out = append(out, identityMagic...)
	out = append(out, identityVersion)
	out = append(out, id.bundle.OnionKey...)
	out = append(out, id.ik.Bytes()...)
	out = append(out, id.spk.Bytes()...)
	out = append(out, id.pq.Bytes()...)
	out = binary.BigEndian.AppendUint64(out, uint64(id.bundle.Created.Unix()))
	out = append(out, id.bundle.Signature...)
	if len(id.retired) == 0 {
		return out, nil
	}
	out[4] = identityVersion2
	out = append(out, byte(len(id.retired)))
	for _, r := range id.retired {
		out = append(out, r.spk.Bytes()...)
		out = append(out, r.pq.Bytes()...)
		out = binary.BigEndian.AppendUint64(out, uint64(r.bundle.Created.Unix()))
		out = append(out, r.bundle.Signature...)
		out = binary.BigEndian.AppendUint64(out, uint64(r.retired.Unix()))
	}
	return out, nil
}

func unmarshalIdentity(data []byte) (*Identity, error) {
	fail := func(why string) (*Identity, error) {
		return nil, fmt.Errorf("ratchet: unmarshal identity: %w: %s", ErrIdentity, why)
	}
	if len(data) < 5 || string(data[:4]) != identityMagic {
		return fail("bad magic")
	}
	var rest []byte
	switch {
	case data[4] == identityVersion && len(data) == identitySize:
	case data[4] == identityVersion2 && len(data) > identitySize:
		data, rest = data[:identitySize], data[identitySize:]
		if n := int(rest[0]); n == 0 || n > MaxRetired || len(rest) != 1+n*retiredSize {
			return fail(fmt.Sprintf("%d bytes of retired keys", len(rest)))
		}
		rest = rest[1:]
	case data[4] != identityVersion && data[4] != identityVersion2:
		return fail(fmt.Sprintf("unknown version %d", data[4]))
	default:
		return fail(fmt.Sprintf("%d bytes for version %d", len(data), data[4]))
	}
	p := data[5:]
	next := func(n int) []byte { v := p[:n]; p = p[n:]; return v }
	onion := bytes.Clone(next(32))
	ik, err := ecdh.X25519().NewPrivateKey(next(32))
	if err != nil {
		return fail("identity key")
	}
	spk, err := ecdh.X25519().NewPrivateKey(next(32))
	if err != nil {
		return fail("prekey")
	}
	pq, err := mlkem.NewDecapsulationKey768(next(mlkem.SeedSize))
	if err != nil {
		return fail("ML-KEM key")
	}
	created := int64(binary.BigEndian.Uint64(next(8)))
	sig := bytes.Clone(next(ed25519.SignatureSize))
	id := &Identity{identityFields{ik: ik, spk: spk, pq: pq}}
	id.bundle = Bundle{
		OnionKey:    ed25519.PublicKey(onion),
		IdentityKey: ik.PublicKey().Bytes(),
		PreKey:      spk.PublicKey().Bytes(),
		PQKey:       pq.EncapsulationKey().Bytes(),
		Created:     time.Unix(created, 0).UTC(),
		Signature:   sig,
	}
	bb, err := id.bundle.marshal()
	if err != nil {
		return fail("bundle")
	}
	// Re-verifying catches a corrupted blob before it produces handshakes
	// nobody can complete.
	if _, err := parseBundle(bb, id.bundle.OnionKey); err != nil {
		return fail("bundle does not verify")
	}
	id.bundleBytes = bb
	for len(rest) > 0 {
		r := rest[:retiredSize]
		rest = rest[retiredSize:]
		spk, err := ecdh.X25519().NewPrivateKey(r[:32])
		if err != nil {
			return fail("retired prekey")
		}
		pq, err := mlkem.NewDecapsulationKey768(r[32 : 32+mlkem.SeedSize])
		if err != nil {
			return fail("retired ML-KEM key")
		}
		r = r[32+mlkem.SeedSize:]
		old := retiredKeys{spk: spk, pq: pq, retired: time.Unix(int64(binary.BigEndian.Uint64(r[8+ed25519.SignatureSize:])), 0).UTC()}
		old.bundle = Bundle{
			OnionKey:    id.bundle.OnionKey,
			IdentityKey: id.bundle.IdentityKey,
			PreKey:      spk.PublicKey().Bytes(),
			PQKey:       pq.EncapsulationKey().Bytes(),
			Created:     time.Unix(int64(binary.BigEndian.Uint64(r[:8])), 0).UTC(),
			Signature:   bytes.Clone(r[8 : 8+ed25519.SignatureSize]),
		}
		if old.bundleBytes, err = old.bundle.marshal(); err != nil {
			return fail("retired bundle")
		}
		if _, err := parseBundle(old.bundleBytes, id.bundle.OnionKey); err != nil {
			return fail("retired bundle does not verify")
		}
		id.retired = append(id.retired, old)
	}
	return id, nil
}

// rotate returns a copy of id with a fresh prekey and ML-KEM key in a new
// bundle signed by onionKey; the current ones are retired at now, and
// retired keys older than keep (or beyond MaxRetired) are dropped.
func (id *Identity) rotate(onionKey ed25519.PrivateKey, now time.Time, keep time.Duration) (*Identity, error) {
	if !bytes.Equal(onionKey.Public().(ed25519.PublicKey), id.bundle.OnionKey) {
		return nil, fmt.Errorf("ratchet: rotate: onion key does not match the identity")
	}
	spk, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ratchet: rotate: %w", err)
	}
	pq, err := mlkem.GenerateKey768()
	if err != nil {
		return nil, fmt.Errorf("ratchet: rotate: %w", err)
	}
	next := &Identity{identityFields{ik: id.ik, spk: spk, pq: pq}}
	next.bundle = Bundle{
		OnionKey:    id.bundle.OnionKey,
		IdentityKey: id.bundle.IdentityKey,
		PreKey:      spk.PublicKey().Bytes(),
		PQKey:       pq.EncapsulationKey().Bytes(),
		Created:     time.Unix(now.Unix(), 0).UTC(),
	}
	unsigned := next.bundle.appendUnsigned(nil)
	next.bundle.Signature = ed25519.Sign(onionKey, signedMessage(unsigned))
	next.bundleBytes = append(unsigned, next.bundle.Signature...)
	next.retired = append(next.retired, retiredKeys{
		spk: id.spk, pq: id.pq, bundle: id.bundle, bundleBytes: id.bundleBytes, retired: time.Unix(now.Unix(), 0).UTC(),
	})
	for _, r := range id.retired {
		if len(next.retired) < MaxRetired && now.Sub(r.retired) < keep {
			next.retired = append(next.retired, r)
		}
	}
	return next, nil
}

const safetyIterations = 5200

// safetyNumber follows Signal's numeric fingerprint: each key yields 30
// digits from iterated SHA-512; the halves are ordered by key so both sides
// print the same string.
func safetyNumber(a, b ed25519.PublicKey) string {
	ha, hb := safetyHalf(a), safetyHalf(b)
	if bytes.Compare(a, b) > 0 {
		ha, hb = hb, ha
	}
	return ha + " " + hb
}

func safetyHalf(key []byte) string {
	h := sha512.New()
	h.Write([]byte("chive/v1 safety number\x00"))
	h.Write(key)
	sum := h.Sum(nil)
	for range safetyIterations {
		h.Reset()
		h.Write(sum)
		h.Write(key)
		sum = h.Sum(sum[:0])
	}
	var sb strings.Builder
	for i := range 6 {
		c := sum[i*5 : i*5+5]
		v := uint64(c[0])<<32 | uint64(c[1])<<24 | uint64(c[2])<<16 | uint64(c[3])<<8 | uint64(c[4])
		if i > 0 {
			sb.WriteByte(' ')
		}
		fmt.Fprintf(&sb, "%05d", v%100000)
	}
	return sb.String()
}
