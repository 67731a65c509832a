package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/chive-im/chive/storage"
)

// BenchmarkBackup: backing up and restoring a profile of 100k messages with
// the real key stretching (storage.DefaultKDFParams; KDF is one derivation
// of it, in the same run: a backup pays one, a restore two).
//
//	go test ./node -run '^$' -bench Backup -benchtime 3x -timeout 30m
func BenchmarkBackup(b *testing.B) {
	for _, n := range benchSizes(100_000) {
		p := benchProfile(b, n)
		nn, err := newNode(context.Background(), p.db, Options{Dir: p.dir})
		if err != nil {
			b.Fatal(err)
		}
		var dbSize int64
		if fi, err := os.Stat(p.db.Path()); err == nil {
			dbSize = fi.Size()
		}
		b.Run("KDF", func(b *testing.B) {
			k := storage.DefaultKDFParams()
			for b.Loop() {
				argon2.IDKey([]byte("passphrase"), make([]byte, 16), k.Time, k.MemoryKiB, k.Threads, 32)
			}
		})
		dir := b.TempDir()
		var file string
		b.Run(fmt.Sprintf("%dk/Backup", n/1000), func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				file = filepath.Join(dir, fmt.Sprintf("b%d", i))
				info, err := nn.Backup(context.Background(), BackupOptions{Path: file, Passphrase: "the backup passphrase"})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(info.Bytes)/(1<<20), "MiB")
				b.ReportMetric(float64(dbSize)/(1<<20), "dbMiB")
			}
		})
		b.Run(fmt.Sprintf("%dk/Restore", n/1000), func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				if _, err := RestoreProfile(context.Background(), file, filepath.Join(dir, fmt.Sprintf("r%d", i)),
					RestoreOptions{BackupPassphrase: []byte("the backup passphrase"), Passphrase: testPass}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
