package files

import (
	"crypto/rand"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/chive-im/chive/wire"
)

// BenchmarkChunkStore measures the two ways to keep sealed chunks at rest
// that issue 15 asked to compare, on the same disk in the same run:
//
//   - files: chunk i at offset i × slot of one file per transfer, synced
//     and checkpointed (a small SQLite update) every 16 chunks, as the
//     Manager does;
//   - sqlite: one row per chunk (BLOB) in a database with chive's pragmas
//     (WAL, synchronous=FULL, secure_delete), committed every 16 chunks.
//
// Each op writes 64 MiB of 60 KiB chunks, reads them back and deletes
// them; write-MB/s, read-MB/s and delete-ms are reported per store.
func BenchmarkChunkStore(b *testing.B) {
	const total = 64 << 20
	n := total / wire.ChunkSize
	chunk := make([]byte, wire.MaxChunkData)
	rand.Read(chunk)
	open := func(b *testing.B, dir string) *sql.DB {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "db")+"?_txlock=immediate&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=secure_delete(ON)")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS chunks (file INTEGER, idx INTEGER, data BLOB, PRIMARY KEY (file, idx));
			CREATE TABLE IF NOT EXISTS progress (file INTEGER PRIMARY KEY, have BLOB)`); err != nil {
			b.Fatal(err)
		}
		return db
	}
	report := func(b *testing.B, write, read, del time.Duration) {
		b.ReportMetric(float64(total)/1e6/(write.Seconds()/float64(b.N)), "write-MB/s")
		b.ReportMetric(float64(total)/1e6/(read.Seconds()/float64(b.N)), "read-MB/s")
		b.ReportMetric(float64(del.Milliseconds())/float64(b.N), "delete-ms")
		b.ReportMetric(0, "ns/op")
	}
	b.Run("files", func(b *testing.B) {
		dir := b.TempDir()
		db := open(b, dir)
		defer db.Close()
		have := newBitset(uint64(n))
		var write, read, del time.Duration
		buf := make([]byte, slotSize)
		for range b.N {
			start := time.Now()
			p := filepath.Join(dir, "chunks")
			f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
			if err != nil {
				b.Fatal(err)
			}
			for i := range n {
				if err := writeSlot(f, uint64(i), chunk); err != nil {
					b.Fatal(err)
				}
				have.set(uint64(i))
				if i%16 == 15 || i == n-1 {
					f.Sync()
					if _, err := db.Exec(`INSERT OR REPLACE INTO progress VALUES (1, ?)`, have.bytes()); err != nil {
						b.Fatal(err)
					}
				}
			}
			write += time.Since(start)
			start = time.Now()
			l := layout{size: int64(n) * wire.ChunkSize, chunks: uint64(n)}
			for i := range n {
				if _, err := readSlot(f, l, uint64(i), buf); err != nil {
					b.Fatal(err)
				}
			}
			read += time.Since(start)
			start = time.Now()
			f.Close()
			os.Remove(p)
			db.Exec(`DELETE FROM progress`)
			del += time.Since(start)
		}
		report(b, write, read, del)
	})
	b.Run("sqlite", func(b *testing.B) {
		dir := b.TempDir()
		db := open(b, dir)
		defer db.Close()
		var write, read, del time.Duration
		for range b.N {
			start := time.Now()
			for i := 0; i < n; i += 16 {
				tx, err := db.Begin()
				if err != nil {
					b.Fatal(err)
				}
				for j := i; j < min(i+16, n); j++ {
					if _, err := tx.Exec(`INSERT INTO chunks VALUES (1, ?, ?)`, j, chunk); err != nil {
						b.Fatal(err)
					}
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			write += time.Since(start)
			start = time.Now()
			for i := range n {
				var d []byte
				if err := db.QueryRow(`SELECT data FROM chunks WHERE file = 1 AND idx = ?`, i).Scan(&d); err != nil || len(d) != len(chunk) {
					b.Fatal(err, len(d))
				}
			}
			read += time.Since(start)
			start = time.Now()
			if _, err := db.Exec(`DELETE FROM chunks`); err != nil {
				b.Fatal(err)
			}
			del += time.Since(start)
		}
		st, _ := os.Stat(filepath.Join(dir, "db"))
		b.ReportMetric(float64(st.Size())/1e6, "db-MB-after-delete")
		report(b, write, read, del)
	})
}
