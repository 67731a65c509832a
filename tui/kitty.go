package tui

import (
	"encoding/base64"
	"fmt"
	"image"
	"strconv"
	"strings"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/ansi/kitty"
)

// Image previews in terminals that speak the kitty graphics protocol
// (issue 15): the thumbnail is sent to the terminal once, as a virtual
// placement, and drawn as Unicode placeholders, cells of U+10EEEE whose
// diacritics say which row and column of the image they show and whose
// foreground colour says which image. Placeholders are ordinary text, so
// Bubble Tea's cell renderer draws, scrolls and clips them like any text;
// only the transmission goes to the terminal out of band (tea.Raw).
// See https://sw.kovidgoyal.net/kitty/graphics-protocol/#unicode-placeholders.

// imageMode is how image previews are drawn.
type imageMode int

const (
	imagesHalfBlock imageMode = iota // ▀ cells in true colour, in every terminal with colours
	imagesKitty                      // kitty graphics protocol, Unicode placeholders
	imagesOff                        // no previews
)

func (m imageMode) String() string {
	switch m {
	case imagesKitty:
		return "kitty"
	case imagesOff:
		return "off"
	}
	return "halfblock"
}

// detectImages picks how to draw previews: $CHIVE_IMAGES (kitty,
// halfblock or off) if set, else the kitty protocol only where the
// terminal surely has it (kitty, ghostty) and nothing sits between it and
// chive. Inside tmux or screen the outer terminal is unknown and tmux
// drops the protocol unless allow-passthrough is on, so previews stay
// half blocks there unless CHIVE_IMAGES=kitty says otherwise. WezTerm's
// placeholders are incomplete: half blocks too.
func detectImages(getenv func(string) string) imageMode {
	switch strings.ToLower(strings.TrimSpace(getenv("CHIVE_IMAGES"))) {
	case "kitty":
		return imagesKitty
	case "halfblock":
		return imagesHalfBlock
	case "off":
		return imagesOff
	}
	term, prog := getenv("TERM"), getenv("TERM_PROGRAM")
	if getenv("TMUX") != "" || getenv("STY") != "" || strings.HasPrefix(term, "tmux") || strings.HasPrefix(term, "screen") {
		return imagesHalfBlock
	}
	switch {
	case term == "xterm-kitty", term == "xterm-ghostty", prog == "ghostty":
		return imagesKitty
	case getenv("KITTY_WINDOW_ID") != "" && (prog == "" || prog == "kitty") && !otherTerminal(term):
		// kitty with TERM changed (xterm-256color); but a terminal started
		// from kitty inherits the variable and names itself in TERM or
		// TERM_PROGRAM.
		return imagesKitty
	}
	return imagesHalfBlock
}

// otherTerminal says whether TERM names a terminal that is not kitty.
func otherTerminal(term string) bool {
	for _, name := range []string{"alacritty", "foot", "wezterm", "ghostty", "rxvt", "st-", "konsole", "contour", "mlterm"} {
		if strings.Contains(term, name) {
			return true
		}
	}
	return false
}

// kittyChunk is the most base64 a transmission carries per escape
// sequence, as the protocol requires.
const kittyChunk = 4096

// kittyTransmit is the escape sequence that sends a PNG to the terminal
// as image id with a virtual placement of cols×rows cells (a=T,U=1),
// quietly (q=2: no answer to read back). The base64 goes in chunks; inside
// tmux each chunk is wrapped for passthrough on its own, which tmux
// passes on only with allow-passthrough on.
func kittyTransmit(id uint32, png []byte, cols, rows int, tmux bool) string {
	data := base64.StdEncoding.EncodeToString(png)
	var b strings.Builder
	for first := true; first || data != ""; first = false {
		n := min(len(data), kittyChunk)
		chunk := data[:n]
		data = data[n:]
		more := 0
		if data != "" {
			more = 1
		}
		var seq string
		if first {
			seq = fmt.Sprintf("\x1b_Ga=T,U=1,f=100,i=%d,c=%d,r=%d,q=2,m=%d;%s\x1b\\", id, cols, rows, more, chunk)
		} else {
			seq = fmt.Sprintf("\x1b_Gm=%d,q=2;%s\x1b\\", more, chunk)
		}
		if tmux {
			seq = ansi.TmuxPassthrough(seq)
		}
		b.WriteString(seq)
	}
	return b.String()
}

// The image id is in the placeholders' foreground colour, as a 256-colour
// index (it survives a terminal profile of 256 colours, where a 24-bit
// colour would be rounded), with its most significant byte in a third
// diacritic: kittyID numbers images 16–255 in that byte, skipping the 16
// colours a theme may remap, and 1–255 in the top byte (never 0, so ids
// stay clear of the small ones other programs pick).
func kittyID(n int) uint32 {
	lo := 16 + n%240
	hi := 1 + (n/240)%255
	return uint32(hi)<<24 | uint32(lo)
}

// kittyPlaceholders are the rows of cells that show image id's virtual
// placement: each cell is U+10EEEE with diacritics for its row, its
// column and the id's top byte, in the foreground colour of the id's low
// byte. The ids kittyID makes fit in these two bytes.
func kittyPlaceholders(id uint32, cols, rows int) []string {
	if cols < 1 || rows < 1 {
		return nil
	}
	cols, rows = min(cols, kittyMaxSpan), min(rows, kittyMaxSpan)
	colour := "\x1b[38;5;" + strconv.Itoa(int(id&0xff)) + "m"
	hi := kitty.Diacritic(int(id >> 24))
	out := make([]string, rows)
	for r := range rows {
		var line strings.Builder
		line.WriteString(colour)
		for c := range cols {
			line.WriteRune(kitty.Placeholder)
			line.WriteRune(kitty.Diacritic(r))
			line.WriteRune(kitty.Diacritic(c))
			line.WriteRune(hi)
		}
		line.WriteString("\x1b[m")
		out[r] = line.String()
	}
	return out
}

// kittyMaxSpan is the number of diacritics, the most rows or columns a
// placeholder can address.
const kittyMaxSpan = 297

// previewSize is the cells halfBlocks(img, cols, rows) fills: its width
// and its number of lines. A kitty placement takes the same cells, so a
// preview stands in the same place whichever way it is drawn. It follows
// halfBlocks's fitting and media.Scale's rounding (a test keeps them in
// step).
func previewSize(b image.Rectangle, cols, rows int) (w, h int) {
	if cols < 1 || rows < 1 || b.Dx() < 1 || b.Dy() < 1 {
		return 0, 0
	}
	pw, ph := cols, b.Dy()*cols/b.Dx()
	if ph > 2*rows {
		pw, ph = max(1, b.Dx()*2*rows/b.Dy()), 2*rows
	}
	side := max(pw, max(1, ph))
	dw, dh := b.Dx(), b.Dy()
	if dw > side || dh > side {
		if dw >= dh {
			dw, dh = side, max(1, dh*side/dw)
		} else {
			dw, dh = max(1, dw*side/dh), side
		}
	}
	return dw, (dh + 1) / 2
}
