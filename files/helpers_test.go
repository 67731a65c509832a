package files

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

var cheapKDF = &storage.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

// side is one profile with a Manager and one contact, "peer".
type side struct {
	t       testing.TB
	dir     string
	db      *storage.DB
	m       *Manager
	contact int64
	opts    Options

	mu     sync.Mutex
	events []Event
	pokes  int
	ends   chan endReq
}

type endReq struct {
	id      wire.ID
	state   State
	reason  wire.EndReason
	errText string
}

func newSide(t testing.TB, name string, o Options) *side {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	db, err := storage.Create(context.Background(), dir, []byte("pass"), storage.Identity{Name: name, OnionKey: key, Ratchet: []byte("r")}, storage.CreateOptions{KDF: cheapKDF})
	if err != nil {
		t.Fatal(err)
	}
	s := &side{t: t, dir: dir, db: db, opts: o, ends: make(chan endReq, 16)}
	err = db.Update(context.Background(), func(tx *storage.Tx) error {
		c, err := tx.InsertContact(storage.Contact{Address: "peeraddress", Nickname: "peer", State: storage.StateAccepted})
		s.contact = c.ID
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	s.open()
	t.Cleanup(func() {
		if s.m != nil {
			s.m.Close()
		}
		s.db.Close()
	})
	return s
}

func (s *side) open() {
	s.t.Helper()
	o := s.opts
	o.Event = func(e Event) {
		s.mu.Lock()
		s.events = append(s.events, e)
		s.mu.Unlock()
	}
	o.Poke = func(int64) {
		s.mu.Lock()
		s.pokes++
		s.mu.Unlock()
	}
	o.End = func(id wire.ID, st State, r wire.EndReason, e string) { s.ends <- endReq{id, st, r, e} }
	m, err := Open(context.Background(), s.db, o)
	if err != nil {
		s.t.Fatal(err)
	}
	s.m = m
}

// crash stops the manager the way kill -9 would: no last checkpoint.
func (s *side) crash() {
	s.m.mu.Lock()
	s.m.closed = true
	for _, t := range s.m.active {
		if t.f != nil {
			t.f.Close()
		}
	}
	s.m.mu.Unlock()
	s.m.cancel()
	s.m.wg.Wait()
	s.m = nil
}

// restart reopens the profile, as after a crash or a clean stop.
func (s *side) restart(clean bool) {
	s.t.Helper()
	if clean {
		s.m.Close()
		s.m = nil
	} else {
		s.crash()
	}
	s.db.Close()
	db, err := storage.Open(context.Background(), s.dir, []byte("pass"), storage.OpenOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	s.db = db
	s.open()
}

func (s *side) states(id wire.ID) []State {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []State
	for _, e := range s.events {
		if e.Transfer.ID == id && !e.Progress {
			out = append(out, e.Transfer.State)
		}
	}
	return out
}

func randomFile(t testing.TB, dir, name string, size int) (string, []byte) {
	t.Helper()
	b := make([]byte, size)
	r := mrand.New(mrand.NewPCG(uint64(size), 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, b
}

// send imports path on s and stores the offer as an outgoing message.
func (s *side) send(path string) *Imported {
	s.t.Helper()
	ctx := context.Background()
	id := wire.NewID()
	imp, err := s.m.Import(ctx, id, path, DefaultMaxSize)
	if err != nil {
		s.t.Fatal(err)
	}
	err = s.db.Update(ctx, func(tx *storage.Tx) error {
		msg, err := tx.QueueMessage(storage.OutgoingMessage{ContactID: s.contact, ID: storage.MessageID(id), Body: "caption", Meta: MetaFile, Session: []byte("s"), Frame: []byte("f")})
		if err != nil {
			return err
		}
		return s.m.InsertOutgoing(tx, s.contact, msg.Seq, imp)
	})
	if err != nil {
		s.m.Discard(imp)
		s.t.Fatal(err)
	}
	if _, err := s.m.Activate(ctx, id); err != nil {
		s.t.Fatal(err)
	}
	return imp
}

// receive stores offer on s as an incoming message, as the node would.
func (s *side) receive(o *wire.FileOffer, pol Policy) Decision {
	s.t.Helper()
	ctx := context.Background()
	usage, err := s.m.Usage(ctx, s.contact)
	if err != nil {
		s.t.Fatal(err)
	}
	var d Decision
	err = s.db.Update(ctx, func(tx *storage.Tx) error {
		msg, err := tx.ReceiveMessage(storage.IncomingMessage{ContactID: s.contact, ID: storage.MessageID(o.ID), Body: "caption", Meta: MetaFile, Session: []byte("s")})
		if err != nil {
			return err
		}
		d, err = s.m.InsertIncoming(tx, s.contact, msg.Seq, o, pol, usage)
		return err
	})
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.m.Activate(ctx, o.ID); err != nil {
		s.t.Fatal(err)
	}
	return d
}

// pipe moves frames between a sender and a receiver on link l, in
// memory, until nothing is asked or limit chunks were delivered (0: no
// limit). It returns the chunks delivered.
func pipe(t testing.TB, snd, rcv *side, l any, limit int) int {
	t.Helper()
	var pending []wire.Msg
	for _, r := range rcv.m.Requests(rcv.contact, l) {
		pending = append(pending, r)
	}
	buf := make([]byte, slotSize)
	n := 0
	for {
		for _, m := range pending {
			switch m := m.(type) {
			case *wire.FileRequest:
				if r := snd.m.OnRequest(snd.contact, l, m); r != nil {
					t.Fatalf("sender ended the request: %v", *r)
				}
			case *wire.FileStop:
				snd.m.OnStop(snd.contact, l, m)
			}
		}
		pending = pending[:0]
		c, ok := snd.m.NextChunk(snd.contact, l, buf)
		if !ok {
			return n
		}
		c.Data = bytes.Clone(c.Data)
		resp, err := rcv.m.OnChunk(rcv.contact, l, c)
		if err != nil {
			t.Fatal(err)
		}
		if resp != nil {
			pending = append(pending, resp)
		}
		n++
		if limit > 0 && n == limit {
			return n
		}
	}
}

// finish handles the End a side's manager asked for, as the node would
// (without telling the peer), and returns it.
func (s *side) finish(timeout time.Duration) endReq {
	s.t.Helper()
	select {
	case e := <-s.ends:
		if _, _, err := s.m.Finish(context.Background(), e.id, e.state, e.errText, nil); err != nil {
			s.t.Fatal(err)
		}
		return e
	case <-time.After(timeout):
		s.t.Fatal("no End from the manager")
	}
	return endReq{}
}
