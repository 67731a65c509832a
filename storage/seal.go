package storage

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// sealer seals column values under keys derived from the database key.
type sealer struct {
	aead   cipher.AEAD
	macKey []byte // for address_mac lookups
}

func newSealer(dbKey []byte) (*sealer, error) {
	sk, err := hkdf.Key(sha256.New, dbKey, nil, "chive column seal v1", 32)
	if err != nil {
		return nil, err
	}
	mk, err := hkdf.Key(sha256.New, dbKey, nil, "chive address lookup v1", 32)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(sk)
	clear(sk)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead, macKey: mk}, nil
}

// errUnseal means a sealed value failed authentication: a damaged database,
// a value moved between rows, or a key file from another profile. It is
// ErrUnreadable, so callers can tell one damaged row from a broken profile.
var errUnseal = ErrUnreadable

func sealAD(table, column string, rowKey []byte) []byte {
	ad := make([]byte, 0, 16+len(table)+len(column)+len(rowKey))
	ad = append(ad, "chive row v1\x00"...)
	ad = append(ad, table...)
	ad = append(ad, 0)
	ad = append(ad, column...)
	ad = append(ad, 0)
	return append(ad, rowKey...)
}

func (s *sealer) seal(table, column string, rowKey, plaintext []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, plaintext, sealAD(table, column, rowKey))
}

func (s *sealer) open(table, column string, rowKey, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, fmt.Errorf("%s.%s: %w", table, column, errUnseal)
	}
	p, err := s.aead.Open(nil, sealed[:n], sealed[n:], sealAD(table, column, rowKey))
	if err != nil {
		return nil, fmt.Errorf("%s.%s: %w", table, column, errUnseal)
	}
	return p, nil
}

// sealOpt seals a value that may be absent: nil stays NULL.
func (s *sealer) sealOpt(table, column string, rowKey, plaintext []byte) []byte {
	if plaintext == nil {
		return nil
	}
	return s.seal(table, column, rowKey, plaintext)
}

func (s *sealer) openOpt(table, column string, rowKey, sealed []byte) ([]byte, error) {
	if sealed == nil {
		return nil, nil
	}
	return s.open(table, column, rowKey, sealed)
}

func (s *sealer) addressMAC(address string) []byte {
	m := hmac.New(sha256.New, s.macKey)
	m.Write([]byte(address))
	return m.Sum(nil)
}

// idemMAC is the lookup MAC of an idempotency key: per contact, and
// domain-separated from addressMAC, whose key it shares.
func (s *sealer) idemMAC(contactID int64, key string) []byte {
	m := hmac.New(sha256.New, s.macKey)
	m.Write([]byte("chive idempotency key v1\x00"))
	m.Write(int64Key(contactID))
	m.Write([]byte(key))
	return m.Sum(nil)
}

func int64Key(id int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(id)) }

// messageKey is the row identity of a message: unique per (contact, direction, id).
func messageKey(contact int64, dir Direction, id MessageID) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 25), uint64(contact))
	k = append(k, dir[0])
	return append(k, id[:]...)
}
