// Package media decides what a file is and draws images safely: the media
// type is sniffed from the content (net/http's algorithm) and refined by
// the name's extension only where the content says nothing specific, and an
// image is decoded only after its header (image.DecodeConfig) shows its
// dimensions are within limits, so a small hostile file cannot make us
// allocate gigabytes.
//
// The file transfer engine uses it to classify and thumbnail files it
// sends; the terminal UI uses DecodeImage for previews of files it shows.
package media

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"mime"
	"net/http"
	"path/filepath"
	"strings"

	_ "image/gif" // registered decoders: the formats Go decodes without cgo
	_ "image/png"
)

// SniffLen is how many leading bytes Sniff looks at.
const SniffLen = 512

// byExtension maps common extensions to types, for content the sniffer
// only calls text or binary. Built in rather than the system's
// mime.types, so every machine classifies a file alike.
var byExtension = map[string]string{
	".pdf": "application/pdf", ".txt": "text/plain", ".md": "text/markdown", ".log": "text/plain",
	".csv": "text/csv", ".json": "application/json", ".xml": "application/xml", ".yaml": "application/yaml",
	".yml": "application/yaml", ".toml": "application/toml", ".go": "text/x-go", ".py": "text/x-python",
	".c": "text/x-c", ".h": "text/x-c", ".rs": "text/x-rust", ".js": "text/javascript", ".sh": "text/x-shellscript",
	".ogg": "audio/ogg", ".oga": "audio/ogg", ".opus": "audio/opus", ".m4a": "audio/mp4", ".mp3": "audio/mpeg",
	".wav": "audio/wav", ".flac": "audio/flac", ".aac": "audio/aac",
	".mp4": "video/mp4", ".webm": "video/webm", ".mkv": "video/x-matroska", ".mov": "video/quicktime",
	".zip": "application/zip", ".gz": "application/gzip", ".tgz": "application/gzip", ".tar": "application/x-tar",
	".xz": "application/x-xz", ".zst": "application/zstd", ".7z": "application/x-7z-compressed",
	".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	".odt":  "application/vnd.oasis.opendocument.text", ".epub": "application/epub+zip",
}

// Sniff returns the media type (without parameters) of a file whose first
// bytes are head (up to SniffLen) and whose name is name. The content
// decides; the extension only refines a generic answer (plain text,
// binary, an Ogg or MP4 container), and never makes a file an image or a
// web page the content does not say it is.
func Sniff(head []byte, name string) string {
	if len(head) > SniffLen {
		head = head[:SniffLen]
	}
	sniffed, _, err := mime.ParseMediaType(http.DetectContentType(head))
	if err != nil {
		sniffed = "application/octet-stream"
	}
	ext := byExtension[strings.ToLower(filepath.Ext(name))]
	if ext == "" {
		return sniffed
	}
	switch {
	case sniffed == "text/plain" && !strings.HasPrefix(ext, "audio/") && !strings.HasPrefix(ext, "video/") && !isArchive(ext):
		return ext // text that is more precisely JSON, CSV, Go …
	case sniffed == "application/octet-stream" && !strings.HasPrefix(ext, "text/") && ext != "application/json" && ext != "application/xml" && ext != "application/yaml" && ext != "application/toml":
		return ext // binary the sniffer has no rule for: an extension for binary formats
	case sniffed == "application/ogg" && (ext == "audio/ogg" || ext == "audio/opus"):
		return ext // a voice note
	case sniffed == "video/mp4" && ext == "audio/mp4":
		return ext
	}
	return sniffed
}

func isArchive(t string) bool {
	return strings.HasPrefix(t, "application/") && !strings.Contains(t, "json") && !strings.Contains(t, "xml") &&
		!strings.Contains(t, "yaml") && !strings.Contains(t, "toml")
}

// IsImage reports whether t is an image type.
func IsImage(t string) bool { return strings.HasPrefix(t, "image/") }

// IsVoice reports whether t is audio (a voice note or other sound).
func IsVoice(t string) bool { return strings.HasPrefix(t, "audio/") || t == "application/ogg" }

// Limits bound what DecodeImage accepts.
type Limits struct {
	MaxSide   int   // widest or tallest, in pixels
	MaxPixels int64 // width × height
}

// DefaultLimits allow common photos and screenshots (up to 16 megapixels,
// at most 64 MiB decoded) and refuse decompression bombs.
var DefaultLimits = Limits{MaxSide: 16384, MaxPixels: 16 << 20}

// ErrTooLarge is returned for an image whose dimensions exceed the limits.
var ErrTooLarge = errors.New("image dimensions over the limit")

// DecodeConfig reads an image's header: its format and dimensions, checked
// against lim. Unknown formats are errors wrapping image.ErrFormat.
func DecodeConfig(r io.Reader, lim Limits) (image.Config, string, error) {
	cfg, format, err := image.DecodeConfig(r)
	if err != nil {
		return image.Config{}, "", fmt.Errorf("media: decode image header: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > lim.MaxSide || cfg.Height > lim.MaxSide ||
		int64(cfg.Width)*int64(cfg.Height) > lim.MaxPixels {
		return image.Config{}, "", fmt.Errorf("media: %dx%d %s: %w", cfg.Width, cfg.Height, format, ErrTooLarge)
	}
	return cfg, format, nil
}

// DecodeImage decodes an image whose header passes DecodeConfig with lim;
// only then is the image itself decoded.
func DecodeImage(r io.ReadSeeker, lim Limits) (image.Image, string, error) {
	start, err := r.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, "", fmt.Errorf("media: decode image: %w", err)
	}
	cfg, _, err := DecodeConfig(r, lim)
	if err != nil {
		return nil, "", err
	}
	if _, err := r.Seek(start, io.SeekStart); err != nil {
		return nil, "", fmt.Errorf("media: decode image: %w", err)
	}
	img, format, err := image.Decode(r)
	if err != nil {
		return nil, "", fmt.Errorf("media: decode image: %w", err)
	}
	// The header and the body of a hostile file may disagree.
	if b := img.Bounds(); b.Dx() > cfg.Width || b.Dy() > cfg.Height {
		return nil, "", fmt.Errorf("media: image larger than its header says: %w", ErrTooLarge)
	}
	return img, format, nil
}

// Thumbnail returns a JPEG of img scaled to fit maxSide × maxSide (never
// enlarged), as large as fits in maxBytes. Transparency is drawn on white.
func Thumbnail(img image.Image, maxSide, maxBytes int) ([]byte, error) {
	side := maxSide
	for side >= 16 {
		small := Scale(img, side)
		for _, q := range []int{75, 60, 45, 30} {
			var buf bytes.Buffer
			if err := jpeg.Encode(&buf, small, &jpeg.Options{Quality: q}); err != nil {
				return nil, fmt.Errorf("media: thumbnail: %w", err)
			}
			if buf.Len() <= maxBytes {
				return buf.Bytes(), nil
			}
		}
		side = side * 3 / 4
	}
	return nil, errors.New("media: thumbnail: cannot fit the size limit")
}

// Scale returns img scaled down (box filter: each output pixel is the mean
// of up to 4×4 source pixels it covers) to fit side × side, on a white
// background. An image already small enough is only flattened.
func Scale(img image.Image, side int) *image.RGBA {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	dw, dh := w, h
	if w > side || h > side {
		if w >= h {
			dw, dh = side, max(1, h*side/w)
		} else {
			dw, dh = max(1, w*side/h), side
		}
	}
	out := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := range dh {
		y0, y1 := b.Min.Y+y*h/dh, b.Min.Y+max((y+1)*h/dh, y*h/dh+1)
		for x := range dw {
			x0, x1 := b.Min.X+x*w/dw, b.Min.X+max((x+1)*w/dw, x*w/dw+1)
			var r, g, bl, n uint64
			// At most 4×4 samples per output pixel: enough for a thumbnail,
			// and a 16-megapixel photo scales in milliseconds.
			ys, xs := max(1, (y1-y0)/4), max(1, (x1-x0)/4)
			for sy := y0; sy < y1; sy += ys {
				for sx := x0; sx < x1; sx += xs {
					cr, cg, cb, ca := img.At(sx, sy).RGBA()
					// Over white: c + (1 - a) × white, in 16-bit.
					r += uint64(cr + 0xffff - ca)
					g += uint64(cg + 0xffff - ca)
					bl += uint64(cb + 0xffff - ca)
					n++
				}
			}
			out.SetRGBA(x, y, color.RGBA{R: uint8(r / n >> 8), G: uint8(g / n >> 8), B: uint8(bl / n >> 8), A: 0xff})
		}
	}
	return out
}
