package node

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/chive-im/chive/contacts"
	"github.com/chive-im/chive/storage"
)

// Search (issue 17) runs over an index held in memory only: the text of
// every message, lower-cased, in one buffer, built from the sealed rows
// when the node first needs it (at Start, in the background, or at the first
// search) and kept up to date as messages arrive, change and go. Nothing
// searchable is written to disk. Three designs were measured
// (BenchmarkSearch, docs/threat-model.md): decrypting and scanning the rows
// at each search (200–250 ms per 100k messages), this index (0.06–4 ms per
// 100k, after a build that costs one decrypt-and-scan: 0.34 s), and a
// blinded token index on disk (HMACs of words: fast without a build, but
// its rows tell an attacker with the database which messages share words,
// how often each word occurs and when).

// searchIndex is the in-memory index. Documents (a message's text) live
// in two segments: main, in seq order, which a search scans from its end
// and stops once it has enough (newest first), and extra, for documents
// that came out of order (an edited message's new text), scanned whole. A
// changed or removed message's old document is marked dead. The index is
// compacted (extra merged into main, dead documents dropped) when extra
// or the dead grow large.
type searchIndex struct {
	mu    sync.RWMutex
	state int           // indexEmpty, indexBuilding, indexReady
	done  chan struct{} // closed when the build ends
	err   error         // why the last build failed
	log   []indexOp     // updates made while building, applied after

	main, extra segment
	where       map[int64]docRef // seq → its live document
	dead        int              // bytes of dead documents
}

// segment is documents in one buffer.
type segment struct {
	text     []byte  // the documents, each followed by a 0 byte
	starts   []int32 // start of each document in text
	seqs     []int64
	contacts []int64
	alive    []bool
}

type docRef struct {
	extra bool
	i     int32
}

const (
	indexEmpty = iota
	indexBuilding
	indexReady
)

// indexOp is one change to the index: a message's text (Text "" removes it).
type indexOp struct {
	seq, contact int64
	text         string
	remove       bool
}

func newSearchIndex() *searchIndex {
	return &searchIndex{where: map[int64]docRef{}}
}

// fold is the form text is searched in: lower case, no 0 bytes (the
// documents' separator), so a word never matches across two messages.
func fold(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), "\x00", " ")
}

func (g *segment) add(seq, contact int64, folded string) int32 {
	g.starts = append(g.starts, int32(len(g.text)))
	g.text = append(append(g.text, folded...), 0)
	g.seqs = append(g.seqs, seq)
	g.contacts = append(g.contacts, contact)
	g.alive = append(g.alive, true)
	return int32(len(g.seqs) - 1)
}

// end is the end of document i (its separator).
func (g *segment) end(i int) int {
	if i+1 < len(g.starts) {
		return int(g.starts[i+1]) - 1
	}
	return len(g.text) - 1
}

func (g *segment) doc(i int) []byte { return g.text[g.starts[i]:g.end(i)] }

// scan calls hit for each live document among i0..i1-1 of the contact (0:
// any) that holds every term, in document order.
func (g *segment) scan(i0, i1 int, terms [][]byte, contact int64, hit func(i int)) {
	if i0 >= i1 {
		return
	}
	// Scan for the longest term; check the others in each candidate.
	needle := slices.MaxFunc(terms, func(a, b []byte) int { return len(a) - len(b) })
	lo, hi := int(g.starts[i0]), g.end(i1-1)+1
	for pos := lo; pos < hi; {
		k := bytes.Index(g.text[pos:hi], needle)
		if k < 0 {
			return
		}
		at := pos + k
		i := sort.Search(i1-i0, func(j int) bool { return int(g.starts[i0+j]) > at }) + i0 - 1
		pos = g.end(i) + 1
		if !g.alive[i] || contact != 0 && g.contacts[i] != contact {
			continue
		}
		d := g.doc(i)
		ok := true
		for _, t := range terms {
			if !bytes.Contains(d, t) {
				ok = false
				break
			}
		}
		if ok {
			hit(i)
		}
	}
}

// update applies op now, or after a build in progress. Before any build it
// does nothing: the build reads what is stored, op included.
func (x *searchIndex) update(op indexOp) {
	x.mu.Lock()
	defer x.mu.Unlock()
	switch x.state {
	case indexBuilding:
		x.log = append(x.log, op)
	case indexReady:
		x.applyLocked(op)
	}
}

func (x *searchIndex) applyLocked(op indexOp) {
	if r, ok := x.where[op.seq]; ok {
		g := x.seg(r.extra)
		g.alive[r.i] = false
		x.dead += g.end(int(r.i)) - int(g.starts[r.i]) + 1
		delete(x.where, op.seq)
	}
	if !op.remove && op.text != "" {
		x.addLocked(op.seq, op.contact, fold(op.text))
	}
	if x.dead > 1<<16 && x.dead > len(x.main.text)/4 || len(x.extra.text) > 1<<20 && len(x.extra.text) > len(x.main.text)/8 {
		x.compactLocked()
	}
}

func (x *searchIndex) seg(extra bool) *segment {
	if extra {
		return &x.extra
	}
	return &x.main
}

// addLocked adds a document: to main if it is the newest, else to extra.
func (x *searchIndex) addLocked(seq, contact int64, folded string) {
	if n := len(x.main.seqs); n == 0 || seq > x.main.seqs[n-1] {
		x.where[seq] = docRef{i: x.main.add(seq, contact, folded)}
		return
	}
	x.where[seq] = docRef{extra: true, i: x.extra.add(seq, contact, folded)}
}

// compactLocked drops dead documents and merges extra into main, in seq order.
func (x *searchIndex) compactLocked() {
	type doc struct {
		g *segment
		i int
	}
	var docs []doc
	for _, g := range []*segment{&x.main, &x.extra} {
		for i := range g.seqs {
			if g.alive[i] {
				docs = append(docs, doc{g, i})
			}
		}
	}
	slices.SortFunc(docs, func(a, b doc) int { return cmp.Compare(a.g.seqs[a.i], b.g.seqs[b.i]) })
	var m segment
	m.text = make([]byte, 0, len(x.main.text)+len(x.extra.text)-x.dead)
	where := make(map[int64]docRef, len(docs))
	for _, d := range docs {
		seq := d.g.seqs[d.i]
		where[seq] = docRef{i: m.add(seq, d.g.contacts[d.i], string(d.g.doc(d.i)))}
	}
	x.main, x.extra, x.where, x.dead = m, segment{}, where, 0
}

// ensure builds the index from db unless it is built, waiting for a build
// in progress. A failed build is tried again by the next call.
func (x *searchIndex) ensure(ctx context.Context, db *storage.DB) error {
	x.mu.Lock()
	switch x.state {
	case indexReady:
		x.mu.Unlock()
		return nil
	case indexBuilding:
		done := x.done
		x.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
		return x.ensure(ctx, db)
	}
	x.state, x.done, x.log = indexBuilding, make(chan struct{}), nil
	x.mu.Unlock()

	y := newSearchIndex()
	err := db.ScanBodies(ctx, func(b storage.Body) error {
		if len(y.main.text)+len(b.Text) >= 1<<31-1 {
			return errors.New("more message text than the search index holds (2 GiB)")
		}
		y.addLocked(b.Seq, b.ContactID, fold(b.Text))
		return nil
	})

	x.mu.Lock()
	defer x.mu.Unlock()
	defer close(x.done)
	if err != nil {
		x.state, x.log, x.err = indexEmpty, nil, err
		return fmt.Errorf("build the search index: %w", err)
	}
	x.main, x.extra, x.where, x.dead = y.main, y.extra, y.where, 0
	for _, op := range x.log {
		x.applyLocked(op)
	}
	x.state, x.log, x.err = indexReady, nil, nil
	return nil
}

// search returns the seqs of the newest live documents (at most limit)
// holding every term, of the contact (0: any), newest first.
func (x *searchIndex) search(terms []string, contact int64, limit int) []int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	ts := make([][]byte, len(terms))
	for i, t := range terms {
		ts[i] = []byte(t)
	}
	var out []int64
	// main from its end, in growing blocks, until there are enough.
	block := 256
	for i1 := len(x.main.seqs); i1 > 0 && len(out) < limit; i1, block = i1-block, min(2*block, 1<<16) {
		i0 := max(0, i1-block)
		var hits []int64
		x.main.scan(i0, i1, ts, contact, func(i int) { hits = append(hits, x.main.seqs[i]) })
		slices.Reverse(hits)
		out = append(out, hits...)
	}
	x.extra.scan(0, len(x.extra.seqs), ts, contact, func(i int) { out = append(out, x.extra.seqs[i]) })
	slices.SortFunc(out, func(a, b int64) int { return cmp.Compare(b, a) })
	return out[:min(limit, len(out))]
}

// memory is about how many bytes the index holds.
func (x *searchIndex) memory() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := 48 * len(x.where)
	for _, g := range []*segment{&x.main, &x.extra} {
		n += cap(g.text) + 4*cap(g.starts) + 8*cap(g.seqs) + 8*cap(g.contacts) + cap(g.alive)
	}
	return n
}

// maxSearchResults caps one search's results (Search's limit).
const maxSearchResults = 1000

// searchTerms are the words of a query, folded.
func searchTerms(q string) []string {
	return strings.Fields(fold(q))
}

// indexMessage brings the search index up to date with m, of the
// contact with id contact, as it is now.
func (n *Node) indexMessage(m Message, contact int64) {
	n.search.update(indexOp{seq: m.Seq, contact: contact, text: m.Text, remove: m.Deleted || m.Kind != "" || m.Text == ""})
}

// unindex removes the message with seq from the search index.
func (n *Node) unindex(seq int64) { n.search.update(indexOp{seq: seq, remove: true}) }

// buildSearch builds the search index in the background after Start.
func (n *Node) buildSearch() {
	if err := n.search.ensure(n.ctx, n.db); err != nil && n.ctx.Err() == nil {
		n.log.Warn("building the search index", "err", err)
	}
}

// Search implements API.
func (n *Node) Search(ctx context.Context, q SearchQuery) ([]Message, error) {
	if err := n.checkOpen(); err != nil {
		return nil, err
	}
	terms := searchTerms(q.Text)
	if len(terms) == 0 {
		return nil, errors.New("node: search: nothing to search for")
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, maxSearchResults)
	var only int64
	var one contacts.Contact
	if q.Contact != "" {
		c, err := n.find(ctx, q.Contact)
		if err != nil {
			return nil, err
		}
		only, one = c.ID, c
	}
	if err := n.search.ensure(ctx, n.db); err != nil {
		return nil, fmt.Errorf("node: search: %w", err)
	}
	seqs := n.search.search(terms, only, limit)
	ms, err := n.db.MessagesBySeq(ctx, seqs)
	if err != nil {
		return nil, fmt.Errorf("node: search: %w", err)
	}
	byID := map[int64]contacts.Contact{}
	if only != 0 {
		byID[only] = one
	}
	out := make([]Message, 0, len(ms))
	for _, m := range ms {
		c, ok := byID[m.ContactID]
		if !ok {
			if c, err = n.book.LookupID(ctx, m.ContactID); err != nil {
				continue
			}
			byID[m.ContactID] = c
		}
		out = append(out, n.apiMessage(m, c))
	}
	return n.withConvo(ctx, out), nil
}
