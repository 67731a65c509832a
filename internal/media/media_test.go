package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

func pngBytes(t testing.TB, w, h int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(1, 2))
	for i := range img.Pix {
		img.Pix[i] = byte(r.Uint32())
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSniff(t *testing.T) {
	pngb := pngBytes(t, 4, 4)
	for _, tc := range []struct {
		head []byte
		name string
		want string
	}{
		{pngb, "photo.png", "image/png"},
		{pngb, "photo.txt", "image/png"},              // the content wins
		{[]byte("hello\n"), "evil.png", "text/plain"}, // an extension never makes an image
		{[]byte("hello\n"), "notes.md", "text/markdown"},
		{[]byte(`{"a":1}`), "data.json", "application/json"},
		{[]byte("<html><body>x"), "page.txt", "text/html"},
		{[]byte("plain"), "page.html", "text/plain"},
		{[]byte("%PDF-1.7\n"), "x.bin", "application/pdf"},
		{[]byte("OggS\x00\x02"), "voice.opus", "audio/opus"},
		{[]byte("OggS\x00\x02"), "voice.ogg", "audio/ogg"},
		{[]byte{0, 1, 2, 3, 0xff}, "archive.7z", "application/x-7z-compressed"},
		{[]byte{0, 1, 2, 3, 0xff}, "notes.txt", "application/octet-stream"}, // binary stays binary
		{[]byte{0, 1, 2, 3, 0xff}, "noext", "application/octet-stream"},
		{nil, "empty.txt", "text/plain"},
	} {
		if got := Sniff(tc.head, tc.name); got != tc.want {
			t.Errorf("Sniff(%q, %q) = %q, want %q", tc.head[:min(len(tc.head), 8)], tc.name, got, tc.want)
		}
	}
}

// bombPNG is a valid PNG header claiming w×h pixels, with no pixel data.
func bombPNG(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

func TestDecodeLimits(t *testing.T) {
	for _, bomb := range [][]byte{bombPNG(100000, 100000), bombPNG(20000, 10), bombPNG(5000, 5000)} {
		_, _, err := DecodeImage(bytes.NewReader(bomb), DefaultLimits)
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("bomb: %v, want ErrTooLarge", err)
		}
	}
	img, format, err := DecodeImage(bytes.NewReader(pngBytes(t, 30, 20)), DefaultLimits)
	if err != nil || format != "png" || img.Bounds().Dx() != 30 {
		t.Fatalf("small png: %v %q %v", img, format, err)
	}
	if _, _, err := DecodeImage(bytes.NewReader([]byte("not an image")), DefaultLimits); !errors.Is(err, image.ErrFormat) {
		t.Errorf("not an image: %v", err)
	}
}

func TestThumbnail(t *testing.T) {
	// Noise is the worst case for JPEG size.
	img, _, err := DecodeImage(bytes.NewReader(pngBytes(t, 2000, 1500)), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	th, err := Thumbnail(img, 320, 16<<10)
	if err != nil {
		t.Fatal(err)
	}
	if len(th) > 16<<10 {
		t.Fatalf("thumbnail is %d bytes", len(th))
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(th))
	if err != nil || format != "jpeg" || cfg.Width > 320 || cfg.Height > 320 || cfg.Width < cfg.Height {
		t.Fatalf("thumbnail %+v %q %v", cfg, format, err)
	}
	// Transparent pixels come out white, opaque ones keep their colour.
	src := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	src.SetNRGBA(1, 0, color.NRGBA{R: 200, A: 255})
	out := Scale(src, 10)
	if c := out.RGBAAt(0, 0); c != (color.RGBA{255, 255, 255, 255}) {
		t.Errorf("transparent pixel: %v", c)
	}
	if c := out.RGBAAt(1, 0); c.R != 200 || c.G != 0 {
		t.Errorf("red pixel: %v", c)
	}
}

// FuzzDecodeImage: whatever the bytes, decoding stays within the limits.
func FuzzDecodeImage(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add(bombPNG(100000, 100000))
	lim := Limits{MaxSide: 512, MaxPixels: 64 << 10}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, _, err := DecodeImage(bytes.NewReader(data), lim)
		if err != nil {
			return
		}
		if b := img.Bounds(); b.Dx() > lim.MaxSide || b.Dy() > lim.MaxSide || int64(b.Dx())*int64(b.Dy()) > lim.MaxPixels {
			t.Fatalf("decoded %v beyond the limits", b)
		}
		Sniff(data, "x")
	})
}

// TestWriteSeeds writes the small images of each format in testdata that
// seed FuzzDecodeImage (MEDIA_WRITE_SEEDS=1 go test ./internal/media).
func TestWriteSeeds(t *testing.T) {
	if os.Getenv("MEDIA_WRITE_SEEDS") == "" {
		t.Skip("set MEDIA_WRITE_SEEDS=1 to rewrite testdata")
	}
	img := image.NewPaletted(image.Rect(0, 0, 3, 2), color.Palette{color.Black, color.White})
	var g, j bytes.Buffer
	gif.Encode(&g, img, nil)
	jpeg.Encode(&j, img, nil)
	os.MkdirAll("testdata", 0o755)
	os.WriteFile("testdata/small.png", pngBytes(t, 3, 2), 0o644)
	os.WriteFile("testdata/small.gif", g.Bytes(), 0o644)
	os.WriteFile("testdata/small.jpg", j.Bytes(), 0o644)
}
