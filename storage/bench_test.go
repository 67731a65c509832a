package storage

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

// One op is one message; batch=N writes N messages per transaction.
// Run the insert benchmarks with a time (-benchtime 2s), not a count.
//
// Benchmarks report ratios to a baseline measured in the same run:
//   - inserts: the same rows written unsealed with plain SQL (same
//     connection settings, same transaction shape);
//   - history page: a page from a 1,000-message conversation in the same
//     1M-message database, and an OFFSET query for contrast;
//   - unlock: Argon2id alone with the same parameters.

const benchBody = "a typical chat message of about sixty bytes, give or take!!"

func benchDB(b *testing.B) (*DB, Contact) {
	b.Helper()
	db := newTestDB(b)
	return db, addContact(b, db, "bench", "bench", StateAccepted)
}

func BenchmarkQueueMessage(b *testing.B) {
	ctx := context.Background()
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("sealed/batch=%d", batch), func(b *testing.B) {
			db, c := benchDB(b)
			session := make([]byte, 2048) // a ratchet state is a few KB
			frame := make([]byte, 200)
			b.ResetTimer()
			for done := 0; done < b.N; done += batch {
				err := db.Update(ctx, func(tx *Tx) error {
					for j := 0; j < min(batch, b.N-done); j++ {
						if _, err := tx.QueueMessage(OutgoingMessage{ContactID: c.ID, Body: benchBody, Session: session, Frame: frame}); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
		b.Run(fmt.Sprintf("baseline-unsealed/batch=%d", batch), func(b *testing.B) {
			db, c := benchDB(b)
			session := make([]byte, 2048)
			frame := make([]byte, 200)
			b.ResetTimer()
			for done := 0; done < b.N; done += batch {
				err := db.Update(ctx, func(tx *Tx) error {
					for j := 0; j < min(batch, b.N-done); j++ {
						id := NewMessageID()
						now := time.Now().UnixNano()
						if _, err := tx.tx.ExecContext(ctx, `INSERT INTO sessions (contact_id, state_sealed, updated) VALUES (?, ?, ?)
							ON CONFLICT (contact_id) DO UPDATE SET state_sealed = excluded.state_sealed, updated = excluded.updated`, c.ID, session, now); err != nil {
							return err
						}
						var seq int64
						if err := tx.tx.QueryRowContext(ctx, `INSERT INTO messages (id, contact_id, direction, body_sealed, status, created)
							VALUES (?, ?, 'out', ?, 'queued', ?) RETURNING seq`, id[:], c.ID, []byte(benchBody), now).Scan(&seq); err != nil {
							return err
						}
						if _, err := tx.tx.ExecContext(ctx, `INSERT INTO outbox (id, contact_id, kind, message_seq, frame_sealed, next_attempt, created)
							VALUES (?, ?, 'message', ?, ?, ?, ?)`, id[:], c.ID, seq, frame, now, now); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// msgDB is a database of n messages: n - n/1000 in the "large"
// conversation and every 1000th in the "scattered" one (a small
// conversation whose rows are spread over the whole file).
type msgDB struct {
	once             sync.Once
	dir              string
	keep             bool
	db               *DB
	large, scattered int64 // contact ids
	maxSeq           int64
	err              error
}

var (
	big   msgDB // benchMessages() messages
	small msgDB // 1,000 messages: the baseline
)

func benchMessages() int {
	if n, err := strconv.Atoi(os.Getenv("CHIVE_BENCH_MESSAGES")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// build makes (or, with keepDir, reuses) the database. The 1M build takes
// minutes; CHIVE_BENCH_DIR=dir keeps it between runs.
func (m *msgDB) build(b *testing.B, n int, keepDir string) {
	m.once.Do(func() {
		ctx := context.Background()
		start := time.Now()
		if keepDir != "" {
			m.dir, m.keep = keepDir, true
		} else if m.dir, m.err = os.MkdirTemp("", "chive-bench-"); m.err != nil {
			return
		}
		dir := filepath.Join(m.dir, fmt.Sprintf("p%d", n))
		if Exists(dir) {
			if m.db, m.err = Open(ctx, dir, testPass, OpenOptions{}); m.err != nil {
				return
			}
			large, _ := m.db.ContactByAddress(ctx, "large")
			scattered, _ := m.db.ContactByAddress(ctx, "scattered")
			m.large, m.scattered = large.ID, scattered.ID
			m.err = m.db.sql.QueryRow(`SELECT max(seq) FROM messages`).Scan(&m.maxSeq)
			return
		}
		db, err := Create(ctx, dir, testPass, testIdentity(b), CreateOptions{KDF: cheapKDF})
		if err != nil {
			m.err = err
			return
		}
		m.db = db
		var large, scattered Contact
		db.Update(ctx, func(tx *Tx) error {
			large, _ = tx.InsertContact(Contact{Address: "large", Nickname: "large", State: StateAccepted})
			scattered, _ = tx.InsertContact(Contact{Address: "scattered", Nickname: "scattered", State: StateAccepted})
			return nil
		})
		m.large, m.scattered = large.ID, scattered.ID
		const batch = 10_000
		t0 := time.Unix(1700000000, 0)
		for i := 0; i < n; i += batch {
			err := db.Update(ctx, func(tx *Tx) error {
				for j := i; j < min(i+batch, n); j++ {
					c := large.ID
					if j%1000 == 999 {
						c = scattered.ID
					}
					dir := Incoming
					if j%2 == 1 {
						dir = Outgoing
					}
					at := t0.Add(time.Duration(j) * time.Second)
					msg, err := tx.insertMessage(Message{ID: NewMessageID(), ContactID: c, Direction: dir, Body: benchBody,
						Status: StatusRead, Created: at, Delivered: at, Read: at}, nil)
					if err != nil {
						return err
					}
					m.maxSeq = msg.Seq
				}
				return nil
			})
			if err != nil {
				m.err = err
				return
			}
		}
		// A few unread messages, as a real inbox has.
		for range 5 {
			if _, err := db.ReceiveMessage(ctx, IncomingMessage{ContactID: large.ID, ID: NewMessageID(), Body: benchBody, Session: []byte("s")}); err != nil {
				m.err = err
				return
			}
		}
		if n > 10_000 {
			fmt.Fprintf(os.Stderr, "built a %d-message database in %v\n", n, time.Since(start).Round(time.Second))
		}
	})
	if m.err != nil {
		b.Fatal(m.err)
	}
}

func (m *msgDB) close() {
	if m.db != nil {
		m.db.Close()
	}
	if m.dir != "" && !m.keep {
		os.RemoveAll(m.dir)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	big.close()
	small.close()
	os.Exit(code)
}

// BenchmarkHistoryPage opens a page of 50 in a 1M-message database, from
// the newest message and from random points deep in the history (half the
// ops each). Baseline: the same pages in a 1,000-message database.
func BenchmarkHistoryPage(b *testing.B) {
	ctx := context.Background()
	page := func(b *testing.B, m *msgDB, contact int64) {
		r := rand.New(rand.NewPCG(1, 2))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			var cursor int64
			if i%2 == 1 {
				cursor = 1 + r.Int64N(m.maxSeq)
			}
			ms, err := m.db.History(ctx, contact, cursor, 50)
			if err != nil {
				b.Fatal(err)
			}
			if contact == m.large && cursor > 100 && len(ms) == 0 {
				b.Fatal("empty page")
			}
		}
	}
	b.Run("1M/large-conversation", func(b *testing.B) {
		big.build(b, benchMessages(), os.Getenv("CHIVE_BENCH_DIR"))
		page(b, &big, big.large)
	})
	b.Run("baseline-1k/large-conversation", func(b *testing.B) {
		small.build(b, 1000, "")
		page(b, &small, small.large)
	})
	b.Run("1M/scattered-conversation", func(b *testing.B) {
		// 1,000 messages spread over the whole file: every row on its own page.
		big.build(b, benchMessages(), os.Getenv("CHIVE_BENCH_DIR"))
		page(b, &big, big.scattered)
	})
	b.Run("contrast-1M/offset-half-way", func(b *testing.B) {
		// What OFFSET would cost for a page half way back.
		big.build(b, benchMessages(), os.Getenv("CHIVE_BENCH_DIR"))
		off := benchMessages() / 2
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			ms, err := big.db.queryMessages(ctx, `SELECT `+messageCols+` FROM messages WHERE contact_id = ? ORDER BY seq DESC LIMIT 50 OFFSET ?`, big.large, off)
			if err != nil || len(ms) != 50 {
				b.Fatal(len(ms), err)
			}
		}
	})
}

// BenchmarkConversationSummary is the contact list's per-contact work
// (unread count + newest message) on the 1M conversation; baseline 1k.
func BenchmarkConversationSummary(b *testing.B) {
	ctx := context.Background()
	run := func(b *testing.B, m *msgDB) {
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			c, err := m.db.Conversation(ctx, m.large)
			if err != nil || c.Unread != 5 || c.Last == nil {
				b.Fatal(c, err)
			}
		}
	}
	b.Run("1M", func(b *testing.B) { big.build(b, benchMessages(), os.Getenv("CHIVE_BENCH_DIR")); run(b, &big) })
	b.Run("baseline-1k", func(b *testing.B) { small.build(b, 1000, ""); run(b, &small) })
}

func BenchmarkUnlock(b *testing.B) {
	ctx := context.Background()
	p := DefaultKDFParams()
	dir := filepath.Join(b.TempDir(), "p")
	db, err := Create(ctx, dir, testPass, testIdentity(b), CreateOptions{KDF: &p})
	if err != nil {
		b.Fatal(err)
	}
	db.Close()
	b.Run("open-default-params", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			db, err := Open(ctx, dir, testPass, OpenOptions{})
			if err != nil {
				b.Fatal(err)
			}
			db.Close()
		}
	})
	b.Run("baseline-argon2id-alone", func(b *testing.B) {
		salt := make([]byte, 16)
		for i := 0; i < b.N; i++ {
			argon2.IDKey(testPass, salt, p.Time, p.MemoryKiB, p.Threads, 32)
		}
	})
}
