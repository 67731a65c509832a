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
// at each search (about 1 s per 100k messages), this index (a few
// milliseconds per 100k, after a build that costs one decrypt-and-scan),
// and a blinded token index on disk (HMACs of words: fast without a build,
// but its rows tell an attacker with the database which messages share
// words, how often each word occurs and when).

// searchIndex is the in-memory index. Documents are appended; a changed
// message gets a new document and its old one is marked dead; the buffer is
// compacted when a quarter of it is dead.
type searchIndex struct {
	mu    sync.RWMutex
	state int           // indexEmpty, indexBuilding, indexReady
	done  chan struct{} // closed when the build ends
	err   error         // why the last build failed
	log   []indexOp     // updates made while building, applied after

	text     []byte  // the documents, each followed by a 0 byte
	starts   []int32 // start of each document in text
	seqs     []int64
	contacts []int64
	alive    []bool
	bySeq    map[int64]int32 // seq → its live document
	dead     int             // bytes of dead documents
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
	return &searchIndex{bySeq: map[int64]int32{}}
}

// fold is the form text is searched in: lower case, no 0 bytes (the
// documents' separator), so a word never matches across two messages.
func fold(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), "\x00", " ")
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
	if i, ok := x.bySeq[op.seq]; ok {
		x.alive[i] = false
		x.dead += x.docEnd(int(i)) - int(x.starts[i]) + 1
		delete(x.bySeq, op.seq)
	}
	if !op.remove && op.text != "" {
		x.appendLocked(op.seq, op.contact, op.text)
	}
	if x.dead > 1<<16 && x.dead > len(x.text)/4 {
		x.compactLocked()
	}
}

func (x *searchIndex) appendLocked(seq, contact int64, text string) {
	x.bySeq[seq] = int32(len(x.seqs))
	x.starts = append(x.starts, int32(len(x.text)))
	x.text = append(append(x.text, fold(text)...), 0)
	x.seqs = append(x.seqs, seq)
	x.contacts = append(x.contacts, contact)
	x.alive = append(x.alive, true)
}

// docEnd is the end of document i (its separator).
func (x *searchIndex) docEnd(i int) int {
	if i+1 < len(x.starts) {
		return int(x.starts[i+1]) - 1
	}
	return len(x.text) - 1
}

func (x *searchIndex) compactLocked() {
	y := newSearchIndex()
	y.text = make([]byte, 0, len(x.text)-x.dead)
	for i := range x.seqs {
		if x.alive[i] {
			y.bySeq[x.seqs[i]] = int32(len(y.seqs))
			y.starts = append(y.starts, int32(len(y.text)))
			y.text = append(y.text, x.text[x.starts[i]:x.docEnd(i)+1]...)
			y.seqs = append(y.seqs, x.seqs[i])
			y.contacts = append(y.contacts, x.contacts[i])
			y.alive = append(y.alive, true)
		}
	}
	x.text, x.starts, x.seqs, x.contacts, x.alive, x.bySeq, x.dead = y.text, y.starts, y.seqs, y.contacts, y.alive, y.bySeq, 0
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
		if len(y.text)+len(b.Text) >= 1<<31-1 {
			return errors.New("more message text than the search index holds (2 GiB)")
		}
		y.appendLocked(b.Seq, b.ContactID, b.Text)
		return nil
	})

	x.mu.Lock()
	defer x.mu.Unlock()
	defer close(x.done)
	if err != nil {
		x.state, x.log, x.err = indexEmpty, nil, err
		return fmt.Errorf("build the search index: %w", err)
	}
	x.text, x.starts, x.seqs, x.contacts, x.alive, x.bySeq, x.dead = y.text, y.starts, y.seqs, y.contacts, y.alive, y.bySeq, 0
	for _, op := range x.log {
		x.applyLocked(op)
	}
	x.state, x.log, x.err = indexReady, nil, nil
	return nil
}

// search returns the seqs of the newest live documents (at most limit)
// holding every term, of the contact (0: any).
func (x *searchIndex) search(terms []string, contact int64, limit int) []int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	// Scan for the longest term; check the others in each candidate.
	first := slices.MaxFunc(terms, func(a, b string) int { return len(a) - len(b) })
	needle := []byte(first)
	var hits []int
	for pos := 0; pos < len(x.text); {
		k := bytes.Index(x.text[pos:], needle)
		if k < 0 {
			break
		}
		at := pos + k
		i := sort.Search(len(x.starts), func(j int) bool { return int(x.starts[j]) > at }) - 1
		end := x.docEnd(i)
		pos = end + 1
		if !x.alive[i] || contact != 0 && x.contacts[i] != contact {
			continue
		}
		doc := x.text[x.starts[i]:end]
		ok := true
		for _, t := range terms {
			if !bytes.Contains(doc, []byte(t)) {
				ok = false
				break
			}
		}
		if ok {
			hits = append(hits, i)
		}
	}
	out := make([]int64, len(hits))
	for j, i := range hits {
		out[j] = x.seqs[i]
	}
	slices.SortFunc(out, func(a, b int64) int { return cmp.Compare(b, a) }) // documents of edits are out of seq order
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

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
