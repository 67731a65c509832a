package node

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// Invite links (issue 13): chive:<address>?invite=<token>. A request that
// carries a usable token skips the limits on strangers' requests (the
// contacts package redeems it in the transaction that stores the request);
// one without must carry a proof of work (work.go).

const (
	defaultInviteUses = 1
	defaultInviteLife = 7 * 24 * time.Hour
	maxInviteUses     = 1000
	maxInviteLife     = 366 * 24 * time.Hour
)

// tokenEncoding writes invite tokens as 26 lower-case base32 characters,
// the alphabet of onion addresses: safe in a URI, case-insensitive.
var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// ParseLink parses what a user pastes to add a contact: an address in any
// form onion.ParseAddress accepts, or an invite link
// "chive:<address>?invite=<token>". token is nil without an invite. Errors
// wrap onion's address errors, or ErrBadLink for a bad query part.
func ParseLink(s string) (addr onion.Address, token []byte, err error) {
	s = strings.TrimSpace(s)
	base, query, hasQuery := strings.Cut(s, "?")
	addr, err = onion.ParseAddress(base)
	if err != nil {
		return "", nil, err
	}
	if !hasQuery {
		return addr, nil, nil
	}
	// Links are case-insensitive, like the address (a QR code upper-cases them).
	q, err := url.ParseQuery(strings.ToLower(strings.Join(strings.Fields(query), "")))
	if err == nil && len(q["pair"]) > 0 { // issue 16
		return "", nil, fmt.Errorf("%w: that is a mailbox's pairing link, not a contact's: pair with it with chive mailbox link LINK", ErrBadLink)
	}
	if err != nil || len(q) != 1 || len(q["invite"]) != 1 {
		return "", nil, fmt.Errorf("%w: %q: want chive:<address>?invite=<token>", ErrBadLink, s)
	}
	token, err = tokenEncoding.DecodeString(strings.ToUpper(q.Get("invite")))
	if err != nil || len(token) != wire.InviteSize {
		return "", nil, fmt.Errorf("%w: the invite token in %q is damaged (copy the whole link)", ErrBadLink, s)
	}
	return addr, token, nil
}

// inviteLink is the link of token for our address.
func (n *Node) inviteLink(token []byte) string {
	return n.addr.URI() + "?invite=" + strings.ToLower(tokenEncoding.EncodeToString(token))
}

func (n *Node) apiInvite(iv storage.Invite) Invite {
	return Invite{ID: iv.ID, Link: n.inviteLink(iv.Token), Uses: iv.Uses, MaxUses: iv.MaxUses, Expires: iv.Expires, Created: iv.Created}
}

// CreateInvite implements API.
func (n *Node) CreateInvite(ctx context.Context, o InviteOptions) (Invite, error) {
	if err := n.checkOpen(); err != nil {
		return Invite{}, err
	}
	now := time.Now()
	if o.Uses == 0 {
		o.Uses = defaultInviteUses
	}
	if o.Expires.IsZero() {
		o.Expires = now.Add(defaultInviteLife)
	}
	switch {
	case o.Uses < 0 || o.Uses > maxInviteUses:
		return Invite{}, fmt.Errorf("node: create invite: %d uses: between 1 and %d", o.Uses, maxInviteUses)
	case !o.Expires.After(now):
		return Invite{}, errors.New("node: create invite: it would expire before it is made")
	case o.Expires.After(now.Add(maxInviteLife)):
		return Invite{}, errors.New("node: create invite: it may last a year at most")
	}
	token := make([]byte, wire.InviteSize)
	rand.Read(token)
	iv, err := n.db.CreateInvite(ctx, storage.Invite{Token: token, MaxUses: o.Uses, Expires: o.Expires, Created: now})
	if err != nil {
		return Invite{}, fmt.Errorf("node: create invite: %w", err)
	}
	return n.apiInvite(iv), nil
}

// Invites implements API.
func (n *Node) Invites(ctx context.Context) ([]Invite, error) {
	if err := n.checkOpen(); err != nil {
		return nil, err
	}
	ivs, err := n.db.Invites(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := []Invite{}
	for _, iv := range ivs {
		if iv.Usable(now) {
			out = append(out, n.apiInvite(iv))
		}
	}
	return out, nil
}

// RevokeInvite implements API.
func (n *Node) RevokeInvite(ctx context.Context, id int64) error {
	if err := n.checkOpen(); err != nil {
		return err
	}
	err := n.db.DeleteInvite(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%w: %d", ErrUnknownInvite, id)
	}
	return err
}

// errNoWork refuses a request that has neither a usable invite nor valid
// proof of work. Like a rate-limited one, it is not acknowledged: the
// requester's node restamps and retries with its backoff.
var errNoWork = errors.New("request without an invite or valid proof of work")

// receiveRequest stores a request from a stranger, or a pending requester,
// if it carries a usable invite or valid work; evicted requests are
// announced as removed. p.mu is held.
func (n *Node) receiveRequest(p *peer, c contacts.Contact, known bool, m *wire.Request) (contacts.Contact, error) {
	now := time.Now()
	invited := known && c.Invited && c.State == contacts.PendingIncoming
	if !invited && m.Invite != nil {
		_, err := n.db.CheckInvite(n.ctx, m.Invite, now)
		invited = err == nil
	}
	if !invited && (m.Work == nil || !m.Work.Check(p.pub, n.pub, now, n.tune.workBits)) {
		return contacts.Contact{}, errNoWork
	}
	r, err := n.book.Receive(n.ctx, contacts.Request{Address: p.addr, Bundle: m.Bundle, Greeting: m.Greeting, At: now, Invite: m.Invite},
		func(tx *storage.Tx, c contacts.Contact) error {
			if _, err := tx.MarkSeen(c.ID, storage.MessageID(m.ID), now); err != nil {
				return err
			}
			_, err := n.book.SetPeerName(tx, c.ID, m.Name)
			return err
		})
	if err != nil {
		return r.Contact, err
	}
	for _, e := range r.Evicted {
		n.log.Info("pending request dropped to make room", "peer", e.Address.Short())
		n.events.publish(ContactEvent{Contact: n.apiContact(e), Removed: true})
		n.dropLink(e.Address)
	}
	return r.Contact, nil
}

// defencesOf returns what tor says protects the onion service ln serves,
// or nil when ln is not tor's (an in-memory network).
func defencesOf(ln net.Listener) *Defences {
	ol, ok := ln.(interface{ Defences() onion.Defences })
	if !ok {
		return nil
	}
	d := ol.Defences()
	return &Defences{TorVersion: d.TorVersion, MaxStreams: d.MaxStreams, PoW: d.PoW, PoWQueueRate: d.PoWQueueRate, PoWQueueBurst: d.PoWQueueBurst}
}
