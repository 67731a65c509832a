package mailbox

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chive-im/chive/wire"
)

// BenchmarkStorage measures what the mailbox's database costs per stored
// message: 1000 short messages (a 60-byte text, the size of a chat line,
// encrypted: ~250-byte frames, padded to the 1 KiB bucket) put into one
// slot, then the WAL folded into the database. Reported: database bytes
// per item, against the 1 KiB the item itself is (the baseline).
//
//	go test ./mailbox -run '^$' -bench Storage -benchtime 3x
func BenchmarkStorage(b *testing.B) {
	ctx := context.Background()
	const items = 1000
	for b.Loop() {
		b.StopTimer()
		dir := filepath.Join(b.TempDir(), "mbox")
		s, err := Create(ctx, dir, nil, CreateOptions{NoPassphrase: true})
		if err != nil {
			b.Fatal(err)
		}
		slot := SlotOf(NewSecret())
		s.AddSlot(ctx, slot, time.Now())
		checkpoint := func() int64 {
			if _, err := s.v.SQL().ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
				b.Fatal(err)
			}
			fi, err := os.Stat(filepath.Join(dir, "mailbox.db"))
			if err != nil {
				b.Fatal(err)
			}
			return fi.Size()
		}
		empty := checkpoint()
		frames := make([][]byte, items)
		ids := make([]wire.ID, items)
		for i := range frames {
			ids[i] = wire.NewID()
			// 60 bytes of text + the ratchet's 122 + CBOR: as a real message.
			f, _ := wire.Marshal(&wire.Message{ID: ids[i], Ciphertext: make([]byte, 60+122+10)})
			frames[i], _ = Pad(f)
		}
		q := DefaultLimits().Quota
		b.StartTimer()
		for i := range frames {
			if code, err := s.Put(ctx, slot, ToOwner, ids[i], frames[i], q, time.Now()); err != nil || code != wire.MailboxOK {
				b.Fatal(code, err)
			}
		}
		b.StopTimer()
		full := checkpoint()
		b.ReportMetric(float64(full-empty)/items, "db-bytes/item")
		b.ReportMetric(float64(len(frames[0])), "item-bytes")
		b.ReportMetric(float64(full-empty)/items/float64(len(frames[0])), "db/item-ratio")
		s.Close()
		b.StartTimer()
	}
}
