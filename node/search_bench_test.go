package node

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chive-im/chive/storage"
)

// BenchmarkSearch compares, on the same profile in the same run, the three
// ways to search that issue 17 asked to measure:
//
//   - ScanDecrypt: read and unseal every message at each search (nothing
//     kept; the baseline);
//   - Cache: unseal everything once, keep the texts in memory (a slice of
//     lower-cased strings), scan them at each search;
//   - Index: the node's index (search.go): the same texts in one buffer,
//     scanned with bytes.Index; Build is what it costs once per unlock;
//   - Fetch100: reading the 100 messages of a page of results, which every
//     option but ScanDecrypt pays on top;
//   - Tokens: a blinded token index on disk (HMAC of each word → message),
//     built here only to be measured: whole words only, and its rows leak
//     (docs/threat-model.md).
//
// Profiles of 100k and 1M messages (random words with a Zipf distribution,
// 4–20 words a message) are made once per process:
//
//	go test ./node -run '^$' -bench Search -benchtime 3x -timeout 60m
func BenchmarkSearch(b *testing.B) {
	for _, n := range benchSizes(100_000, 1_000_000) {
		p := benchProfile(b, n)
		queries := []struct{ name, q string }{
			{"common", p.words[3]},                   // thousands of hits
			{"rare", p.words[4000]},                  // a few
			{"two", p.words[40] + " " + p.words[90]}, // both words
			{"none", "qqqqqqq"},
		}
		b.Run(fmt.Sprintf("%dk/Build", n/1000), func(b *testing.B) {
			for b.Loop() {
				x := newSearchIndex()
				if err := x.ensure(context.Background(), p.db); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(x.memory())/(1<<20), "MiB")
			}
		})
		idx := newSearchIndex()
		if err := idx.ensure(context.Background(), p.db); err != nil {
			b.Fatal(err)
		}
		cache := p.cache(b)
		tok := p.tokens(b)
		// What every option then pays to show a page of 100 results.
		b.Run(fmt.Sprintf("%dk/Fetch100", n/1000), func(b *testing.B) {
			seqs := idx.search(searchTerms(queries[0].q), 0, 100)
			for b.Loop() {
				if _, err := p.db.MessagesBySeq(context.Background(), seqs); err != nil {
					b.Fatal(err)
				}
			}
		})
		for _, q := range queries {
			terms := searchTerms(q.q)
			b.Run(fmt.Sprintf("%dk/%s/ScanDecrypt", n/1000, q.name), func(b *testing.B) {
				for b.Loop() {
					p.scanDecrypt(b, terms, 100)
				}
			})
			b.Run(fmt.Sprintf("%dk/%s/Cache", n/1000, q.name), func(b *testing.B) {
				for b.Loop() {
					cache.search(terms, 100)
				}
			})
			b.Run(fmt.Sprintf("%dk/%s/Index", n/1000, q.name), func(b *testing.B) {
				for b.Loop() {
					idx.search(terms, 0, 100)
				}
			})
			b.Run(fmt.Sprintf("%dk/%s/Tokens", n/1000, q.name), func(b *testing.B) {
				for b.Loop() {
					tok.search(b, terms, 100)
				}
			})
		}
	}
}

// benchSizes are the profile sizes to measure; CHIVE_BENCH_SIZES (e.g.
// "10000") replaces them for a quick run.
func benchSizes(def ...int) []int {
	v := os.Getenv("CHIVE_BENCH_SIZES")
	if v == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		var n int
		fmt.Sscan(f, &n)
		if n > 0 {
			out = append(out, n)
		}
	}
	return out
}

// benchProf is a profile of n messages for the search benchmarks.
type benchProf struct {
	db    *storage.DB
	dir   string
	words []string // the vocabulary, most frequent first
	n     int

	tokOnce sync.Once
	tok     *tokenIndex
}

func benchVocabulary() []string {
	r := rand.New(rand.NewPCG(1, 2))
	words := make([]string, 20000)
	for i := range words {
		n := 3 + r.IntN(8)
		b := make([]byte, n)
		for j := range b {
			b[j] = byte('a' + r.IntN(26))
		}
		words[i] = string(b)
	}
	return words
}

// benchProfile makes a profile with n messages, removed when b ends.
func benchProfile(b *testing.B, n int) *benchProf {
	dir := b.TempDir()
	pdir := filepath.Join(dir, "p")
	if _, err := CreateProfileWith(context.Background(), pdir, ProfileOptions{Name: "bench", Passphrase: testPass, KDF: cheapKDF}); err != nil {
		b.Fatal(err)
	}
	db, err := storage.Open(context.Background(), pdir, testPass, storage.OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	p := &benchProf{db: db, dir: pdir, words: benchVocabulary(), n: n}
	start := time.Now()
	fillMessages(b, db, p.words, n)
	b.Logf("profile of %d messages made in %v", n, time.Since(start).Round(time.Second))
	return p
}

// fillMessages adds n messages of Zipf-distributed words to db, in and out,
// over 10 contacts.
func fillMessages(b testing.TB, db *storage.DB, words []string, n int) {
	r := rand.New(rand.NewPCG(3, 4))
	zipf := rand.NewZipf(r, 1.1, 2, uint64(len(words)-1))
	ctx := context.Background()
	var ids []int64
	for i := range 10 {
		err := db.Update(ctx, func(tx *storage.Tx) error {
			c, err := tx.InsertContact(storage.Contact{Address: fmt.Sprintf("contact%02d", i), Nickname: fmt.Sprintf("c%d", i), State: storage.StateAccepted})
			ids = append(ids, c.ID)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	now := time.Now()
	for done := 0; done < n; {
		err := db.Update(ctx, func(tx *storage.Tx) error {
			for i := 0; i < 5000 && done < n; i, done = i+1, done+1 {
				k := 4 + r.IntN(17)
				ws := make([]string, k)
				for j := range ws {
					ws[j] = words[zipf.Uint64()]
				}
				text := strings.Join(ws, " ")
				if r.IntN(4) == 0 {
					text = strings.ToUpper(text[:1]) + text[1:] + "."
				}
				c := ids[r.IntN(len(ids))]
				if _, err := tx.ReceiveMessage(storage.IncomingMessage{ContactID: c, ID: storage.NewMessageID(), Body: text,
					Created: now, Received: now, Session: []byte("s")}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// scanDecrypt is the baseline: unseal every message and match it.
func (p *benchProf) scanDecrypt(b *testing.B, terms []string, limit int) []int64 {
	var hits []int64
	err := p.db.ScanBodies(context.Background(), func(m storage.Body) error {
		t := fold(m.Text)
		for _, term := range terms {
			if !strings.Contains(t, term) {
				return nil
			}
		}
		hits = append(hits, m.Seq)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	slices.Reverse(hits)
	return hits[:min(limit, len(hits))]
}

// textCache is the decrypt-once cache: every text, folded.
type textCache struct {
	seqs  []int64
	texts []string
}

func (p *benchProf) cache(b *testing.B) *textCache {
	c := &textCache{}
	err := p.db.ScanBodies(context.Background(), func(m storage.Body) error {
		c.seqs = append(c.seqs, m.Seq)
		c.texts = append(c.texts, fold(m.Text))
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func (c *textCache) search(terms []string, limit int) []int64 {
	var out []int64
	for i := len(c.texts) - 1; i >= 0 && len(out) < limit; i-- {
		ok := true
		for _, t := range terms {
			if !strings.Contains(c.texts[i], t) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, c.seqs[i])
		}
	}
	return out
}

// tokenIndex is a blinded token index: for every word of every message, a
// row (HMAC-SHA256(key, word)[:16], seq) in an indexed SQLite table.
type tokenIndex struct {
	db  *sql.DB
	key []byte
}

func (p *benchProf) tokens(b *testing.B) *tokenIndex {
	p.tokOnce.Do(func() {
		start := time.Now()
		path := filepath.Join(p.dir, "tokens.db")
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		t := &tokenIndex{db: db, key: []byte("a key derived from the database key")}
		if _, err := db.Exec(`CREATE TABLE tokens (mac BLOB NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (mac, seq)) WITHOUT ROWID`); err != nil {
			b.Fatal(err)
		}
		tx, err := db.Begin()
		if err != nil {
			b.Fatal(err)
		}
		st, err := tx.Prepare(`INSERT OR IGNORE INTO tokens (mac, seq) VALUES (?, ?)`)
		if err != nil {
			b.Fatal(err)
		}
		rows := 0
		err = p.db.ScanBodies(context.Background(), func(m storage.Body) error {
			for _, w := range strings.FieldsFunc(fold(m.Text), func(r rune) bool { return r == ' ' || r == '.' }) {
				if _, err := st.Exec(t.mac(w), m.Seq); err != nil {
					return err
				}
				rows++
			}
			return nil
		})
		if err == nil {
			err = tx.Commit()
		}
		if err != nil {
			b.Fatal(err)
		}
		var size int64
		if fi, err := os.Stat(path); err == nil {
			size = fi.Size()
		}
		b.Logf("token index of %d messages: %d rows, %d MiB on disk, built in %v", p.n, rows, size>>20, time.Since(start).Round(time.Millisecond))
		p.tok = t
	})
	return p.tok
}

func (t *tokenIndex) mac(word string) []byte {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte(word))
	return m.Sum(nil)[:16]
}

// search finds messages holding every whole word, newest first.
func (t *tokenIndex) search(b *testing.B, terms []string, limit int) []int64 {
	var seqs []int64
	for i, term := range terms {
		rows, err := t.db.Query(`SELECT seq FROM tokens WHERE mac = ? ORDER BY seq DESC`, t.mac(term))
		if err != nil {
			b.Fatal(err)
		}
		var got []int64
		for rows.Next() {
			var s int64
			rows.Scan(&s)
			got = append(got, s)
		}
		rows.Close()
		if i == 0 {
			seqs = got
			continue
		}
		seqs = slices.DeleteFunc(seqs, func(s int64) bool {
			_, ok := slices.BinarySearchFunc(got, s, func(a, b int64) int { return int(b - a) })
			return !ok
		})
	}
	return seqs[:min(limit, len(seqs))]
}
