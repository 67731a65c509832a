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

// The 1M-message database is built once per process (batched inserts)
// and removed by TestMain.
var big struct {
	once        sync.Once
	dir         string
	db          *DB
	large, tiny int64 // contact ids
	maxSeq      int64
	err         error
}

func benchMessages() int {
	if n, err := strconv.Atoi(os.Getenv("CHIVE_BENCH_MESSAGES")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

func buildBig(b *testing.B) {
	big.once.Do(func() {
		ctx := context.Background()
		start := time.Now()
		big.dir, big.err = os.MkdirTemp("", "chive-bench-")
		if big.err != nil {
			return
		}
		dir := filepath.Join(big.dir, "p")
		db, err := Create(ctx, dir, testPass, testIdentity(b), CreateOptions{KDF: cheapKDF})
		if err != nil {
			big.err = err
			return
		}
		big.db = db
		var large, tiny Contact
		db.Update(ctx, func(tx *Tx) error {
			large, _ = tx.InsertContact(Contact{Address: "large", Nickname: "large", State: StateAccepted})
			tiny, _ = tx.InsertContact(Contact{Address: "tiny", Nickname: "tiny", State: StateAccepted})
			return nil
		})
		big.large, big.tiny = large.ID, tiny.ID
		n := benchMessages()
		const batch = 10_000
		t0 := time.Unix(1700000000, 0)
		for i := 0; i < n; i += batch {
			err := db.Update(ctx, func(tx *Tx) error {
				for j := i; j < min(i+batch, n); j++ {
					c := large.ID
					// Interleave a small conversation through the first 1,000,000/1000 positions.
					if j%1000 == 0 {
						c = tiny.ID
					}
					dir := Incoming
					if j%2 == 1 {
						dir = Outgoing
					}
					m, err := tx.insertMessage(Message{ID: NewMessageID(), ContactID: c, Direction: dir, Body: benchBody,
						Status: StatusDelivered, Created: t0.Add(time.Duration(j) * time.Second)})
					if err != nil {
						return err
					}
					big.maxSeq = m.Seq
				}
				return nil
			})
			if err != nil {
				big.err = err
				return
			}
		}
		fmt.Fprintf(os.Stderr, "built a %d-message database in %v\n", n, time.Since(start).Round(time.Second))
	})
	if big.err != nil {
		b.Fatal(big.err)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if big.db != nil {
		big.db.Close()
	}
	if big.dir != "" {
		os.RemoveAll(big.dir)
	}
	os.Exit(code)
}

func BenchmarkHistoryPage(b *testing.B) {
	ctx := context.Background()
	buildBig(b)
	db := big.db
	page := func(b *testing.B, contact int64) {
		r := rand.New(rand.NewPCG(1, 2))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			// From the newest, or from a random point deep in the history.
			var cursor int64
			if i%2 == 1 {
				cursor = 1 + r.Int64N(big.maxSeq)
			}
			ms, err := db.History(ctx, contact, cursor, 50)
			if err != nil {
				b.Fatal(err)
			}
			if len(ms) == 0 && cursor > big.maxSeq/2 {
				b.Fatal("empty page")
			}
		}
	}
	b.Run(fmt.Sprintf("keyset/conversation=%d", benchMessages()-benchMessages()/1000), func(b *testing.B) { page(b, big.large) })
	b.Run(fmt.Sprintf("baseline-keyset/conversation=%d", benchMessages()/1000), func(b *testing.B) { page(b, big.tiny) })
	b.Run("contrast-offset/deep", func(b *testing.B) {
		// What OFFSET would cost for the same page half way back.
		off := (benchMessages() - benchMessages()/1000) / 2
		for i := 0; i < b.N; i++ {
			ms, err := db.queryMessages(ctx, `SELECT `+messageCols+` FROM messages WHERE contact_id = ? ORDER BY seq DESC LIMIT 50 OFFSET ?`, big.large, off)
			if err != nil || len(ms) != 50 {
				b.Fatal(len(ms), err)
			}
		}
	})
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
