package mailbox

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chive-im/chive/onion"
	"github.com/chive-im/chive/wire"
)

// scanDir returns the first file under dir holding secret, raw or in hex.
func scanDir(t *testing.T, dir string, secret []byte) string {
	t.Helper()
	found := ""
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || found != "" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		if bytes.Contains(b, secret) || bytes.Contains(b, []byte(hex.EncodeToString(secret))) {
			found = path
		}
		return nil
	})
	return found
}

func TestPad(t *testing.T) {
	id := wire.NewID()
	for _, size := range []int{1, 900, 1100, 20000, wire.MaxCiphertext} {
		f, err := wire.Marshal(&wire.Message{ID: id, Ciphertext: bytes.Repeat([]byte{9}, size)})
		if err != nil {
			t.Fatal(err)
		}
		item, err := Pad(f)
		if err != nil {
			t.Fatal(err)
		}
		if !isBucket(len(item)) || len(item) < len(f) {
			t.Fatalf("%d-byte frame padded to %d", len(f), len(item))
		}
		got, m, err := Unpad(item, id)
		if err != nil || !bytes.Equal(got, f) || m.(*wire.Message).ID != id {
			t.Fatalf("Unpad: %v", err)
		}
	}
	f, _ := wire.Marshal(&wire.Message{ID: id, Ciphertext: []byte("x")})
	item, _ := Pad(f)
	for name, bad := range map[string][]byte{
		"not a bucket":     item[:len(item)-1],
		"non-zero padding": append(append([]byte{}, item[:len(item)-1]...), 1),
		"garbage":          make([]byte, 1024),
	} {
		if _, _, err := Unpad(bad, id); !errors.Is(err, ErrBadItem) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, _, err := Unpad(item, wire.NewID()); !errors.Is(err, ErrBadItem) {
		t.Errorf("another id: %v", err)
	}
	if _, err := Pad(make([]byte, wire.MaxMailboxItem+1)); !errors.Is(err, ErrBadItem) {
		t.Errorf("too big: %v", err)
	}
}

const testAddr = onion.Address("2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid")

func TestPairingLink(t *testing.T) {
	secret := NewSecret()
	link := PairingLink(testAddr, secret)
	if !strings.HasPrefix(link, "chive:"+string(testAddr)+"?pair=") {
		t.Fatalf("link %q", link)
	}
	for _, in := range []string{link, "  " + strings.ToUpper(link) + "\n", strings.Replace(link, "chive:", "chive://", 1)} {
		a, s, err := ParsePairingLink(in)
		if err != nil || a != testAddr || !bytes.Equal(s, secret) {
			t.Errorf("ParsePairingLink(%q) = %s %x %v", in, a, s, err)
		}
	}
	for _, bad := range []string{"", testAddr.URI(), link[:len(link)-3], strings.Replace(link, "pair=", "x=", 1), "chive:abc?pair=aaaa", link + "&more=1"} {
		if _, _, err := ParsePairingLink(bad); !errors.Is(err, ErrNotPairingLink) {
			t.Errorf("ParsePairingLink(%q): %v", bad, err)
		}
	}
	if _, err := onion.ParseAddress(link); err == nil {
		t.Error("a pairing link parses as a contact address")
	}
}

func FuzzUnpad(f *testing.F) {
	for _, s := range unpadSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 16 {
			return
		}
		var id wire.ID
		copy(id[:], data)
		frame, m, err := Unpad(data[16:], id)
		if err != nil {
			return
		}
		again, err := Pad(frame)
		if err != nil || !bytes.Equal(again, data[16:]) {
			t.Fatalf("Pad(Unpad(x)) != x: %v", err)
		}
		if m == nil {
			t.Fatal("no message")
		}
	})
}

func FuzzParsePairingLink(f *testing.F) {
	for _, s := range pairingSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, secret, err := ParsePairingLink(s)
		if err != nil {
			return
		}
		a2, s2, err := ParsePairingLink(PairingLink(a, secret))
		if err != nil || a2 != a || !bytes.Equal(s2, secret) {
			t.Fatalf("round trip of %q: %v", s, err)
		}
	})
}

func pairingSeeds() []string {
	return []string{
		PairingLink(testAddr, bytes.Repeat([]byte{1}, 32)),
		testAddr.URI(),
		"chive://" + string(testAddr) + "?PAIR=" + strings.Repeat("a", 52),
		"chive:" + string(testAddr) + "?pair=",
	}
}

func unpadSeeds() [][]byte {
	id := wire.ID{1, 2, 3}
	var seeds [][]byte
	for _, m := range []wire.Msg{&wire.Message{ID: id, Ciphertext: []byte("ct")}, &wire.Receipt{ID: id, IDs: []wire.ID{{9}}, Read: true}} {
		f, _ := wire.Marshal(m)
		item, _ := Pad(f)
		seeds = append(seeds, append(append([]byte{}, id[:]...), item...))
	}
	return seeds
}

var writeSeeds = flag.Bool("write-seeds", false, "rewrite the seed corpora under testdata/fuzz")

// TestWriteSeeds keeps testdata/fuzz in step with the decoders: run
// `go test ./mailbox -run TestWriteSeeds -write-seeds` after changing them.
func TestWriteSeeds(t *testing.T) {
	if !*writeSeeds {
		t.Skip("use -write-seeds to rewrite testdata/fuzz")
	}
	write := func(name string, seeds []string) {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%02d", i)), []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	var unpad []string
	for _, s := range unpadSeeds() {
		unpad = append(unpad, fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s))
	}
	write("FuzzUnpad", unpad)
	var links []string
	for _, s := range pairingSeeds() {
		links = append(links, fmt.Sprintf("go test fuzz v1\nstring(%q)\n", s))
	}
	write("FuzzParsePairingLink", links)
}
