package tui

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/node/nodetest"
)

// envOf is an environment of the given variables only.
func envOf(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestDetectImages(t *testing.T) {
	cases := []struct {
		env  []string
		want imageMode
	}{
		{nil, imagesHalfBlock},
		{[]string{"TERM", "xterm-256color", "COLORTERM", "truecolor"}, imagesHalfBlock},
		{[]string{"TERM", "xterm-kitty"}, imagesKitty},
		{[]string{"TERM", "xterm-256color", "KITTY_WINDOW_ID", "3"}, imagesKitty},
		{[]string{"TERM", "xterm-ghostty"}, imagesKitty},
		{[]string{"TERM", "xterm-256color", "TERM_PROGRAM", "ghostty"}, imagesKitty},
		// WezTerm's placeholders are incomplete, even as TERM=xterm-kitty's
		// neighbour; a terminal started from kitty inherits its window id.
		{[]string{"TERM", "wezterm", "TERM_PROGRAM", "WezTerm"}, imagesHalfBlock},
		{[]string{"TERM", "xterm-256color", "TERM_PROGRAM", "WezTerm", "KITTY_WINDOW_ID", "1"}, imagesHalfBlock},
		{[]string{"TERM", "alacritty", "KITTY_WINDOW_ID", "1"}, imagesHalfBlock},
		{[]string{"TERM", "foot", "KITTY_WINDOW_ID", "1"}, imagesHalfBlock},
		// A multiplexer in between: the outer terminal is unknown.
		{[]string{"TERM", "tmux-256color", "TMUX", "/tmp/tmux-0/default,1,0", "TERM_PROGRAM", "tmux", "KITTY_WINDOW_ID", "1"}, imagesHalfBlock},
		{[]string{"TERM", "screen-256color", "STY", "1.pts-0", "KITTY_WINDOW_ID", "1"}, imagesHalfBlock},
		// The override wins either way; anything else is auto.
		{[]string{"TERM", "tmux-256color", "TMUX", "x", "CHIVE_IMAGES", "kitty"}, imagesKitty},
		{[]string{"TERM", "xterm-kitty", "CHIVE_IMAGES", "halfblock"}, imagesHalfBlock},
		{[]string{"TERM", "xterm-kitty", "CHIVE_IMAGES", "Off"}, imagesOff},
		{[]string{"TERM", "xterm", "CHIVE_IMAGES", "off"}, imagesOff},
		{[]string{"TERM", "xterm-kitty", "CHIVE_IMAGES", "sixel"}, imagesKitty},
	}
	for _, tc := range cases {
		if got := detectImages(envOf(tc.env...)); got != tc.want {
			t.Errorf("%q: %s, want %s", tc.env, got, tc.want)
		}
	}
}

// kittyCmd is one graphics command: its keys and its payload.
type kittyCmd struct {
	keys    map[string]string
	payload string
}

// parseKitty splits a transmission into its APC graphics commands,
// failing on anything else between them.
func parseKitty(t *testing.T, s string) []kittyCmd {
	t.Helper()
	var out []kittyCmd
	for s != "" {
		if !strings.HasPrefix(s, "\x1b_G") {
			t.Fatalf("not a graphics command: %q", s[:min(len(s), 40)])
		}
		end := strings.Index(s, "\x1b\\")
		if end < 0 {
			t.Fatalf("unterminated: %q", s[:min(len(s), 40)])
		}
		body := s[3:end]
		s = s[end+2:]
		ctl, payload, _ := strings.Cut(body, ";")
		keys := map[string]string{}
		for kv := range strings.SplitSeq(ctl, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				t.Fatalf("key without value %q in %q", kv, ctl)
			}
			keys[k] = v
		}
		out = append(out, kittyCmd{keys, payload})
	}
	return out
}

// untmux undoes tmux passthrough wrapping, chunk by chunk.
func untmux(t *testing.T, s string) string {
	t.Helper()
	var b strings.Builder
	for s != "" {
		rest, ok := strings.CutPrefix(s, "\x1bPtmux;")
		if !ok {
			t.Fatalf("not wrapped: %q", s[:min(len(s), 40)])
		}
		// The wrapped sequence ends in a doubled ESC \, then the wrapper's ESC \.
		end := strings.Index(rest, "\x1b\x1b\\\x1b\\")
		if end < 0 {
			t.Fatalf("unterminated passthrough: %q", rest[:min(len(rest), 40)])
		}
		inner := rest[:end+3]
		if strings.Contains(strings.ReplaceAll(inner, "\x1b\x1b", ""), "\x1b") {
			t.Fatalf("an ESC not doubled in %q", inner[:min(len(inner), 40)])
		}
		b.WriteString(strings.ReplaceAll(inner, "\x1b\x1b", "\x1b"))
		s = rest[end+5:]
	}
	return b.String()
}

func TestKittyTransmit(t *testing.T) {
	// A small image is one command, keys as the protocol's virtual
	// placement wants them.
	small := []byte("\x89PNG tiny")
	got := kittyTransmit(kittyID(0), small, 24, 8, false)
	want := "\x1b_Ga=T,U=1,f=100,i=16777232,c=24,r=8,q=2,m=0;" + base64.StdEncoding.EncodeToString(small) + "\x1b\\"
	if got != want {
		t.Errorf("small:\n got %q\nwant %q", got, want)
	}

	// Sizes around the chunk boundary: 3072 bytes are exactly 4096 base64
	// characters, 6144 exactly two chunks.
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 3071, 3072, 3073, 6144, 10_000, 100_000} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		for _, tmux := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d_tmux=%v", n, tmux), func(t *testing.T) {
				s := kittyTransmit(77, data, 10, 5, tmux)
				if tmux {
					if strings.HasPrefix(s, "\x1b_G") {
						t.Fatal("inside tmux, not wrapped")
					}
					s = untmux(t, s)
				}
				cmds := parseKitty(t, s)
				wantChunks := (base64.StdEncoding.EncodedLen(n) + 4095) / 4096
				if len(cmds) != wantChunks {
					t.Fatalf("%d commands, want %d", len(cmds), wantChunks)
				}
				var all strings.Builder
				for i, c := range cmds {
					wantKeys := map[string]string{"m": "1", "q": "2"}
					if i == 0 {
						wantKeys = map[string]string{"a": "T", "U": "1", "f": "100", "i": "77", "c": "10", "r": "5", "q": "2", "m": "1"}
					}
					if i == len(cmds)-1 {
						wantKeys["m"] = "0"
					}
					if fmt.Sprint(c.keys) != fmt.Sprint(wantKeys) {
						t.Errorf("command %d keys %v, want %v", i, c.keys, wantKeys)
					}
					if len(c.payload) > 4096 || len(c.payload) == 0 || (i < len(cmds)-1 && len(c.payload) != 4096) {
						t.Errorf("command %d carries %d bytes", i, len(c.payload))
					}
					all.WriteString(c.payload)
				}
				back, err := base64.StdEncoding.DecodeString(all.String())
				if err != nil || !bytes.Equal(back, data) {
					t.Errorf("payload does not decode to the data: %v", err)
				}
			})
		}
	}
}

// The first diacritics of kitty's rowcolumn-diacritics.txt, by number.
var firstDiacritics = []rune{0x0305, 0x030D, 0x030E, 0x0310, 0x0312, 0x033D, 0x033E, 0x033F, 0x0346, 0x034A}

func TestKittyPlaceholders(t *testing.T) {
	for _, n := range []int{0, 1, 239, 240, 241, 3 * 240} {
		id := kittyID(n)
		lo, hi := int(id&0xff), int(id>>24)
		if lo < 16 || hi < 1 || hi > 9 || id>>8&0xffff != 0 {
			t.Fatalf("kittyID(%d) = %#x", n, id)
		}
		rows := kittyPlaceholders(id, 7, 4)
		if len(rows) != 4 {
			t.Fatalf("%d rows", len(rows))
		}
		for r, line := range rows {
			// The id's low byte is the colour, a 256-colour index.
			prefix := fmt.Sprintf("\x1b[38;5;%dm", lo)
			body, ok := strings.CutPrefix(line, prefix)
			body, ok2 := strings.CutSuffix(body, "\x1b[m")
			if !ok || !ok2 {
				t.Fatalf("row %d %q: not in colour %d", r, line, lo)
			}
			cells := []rune(body)
			if len(cells) != 7*4 {
				t.Fatalf("row %d: %d runes", r, len(cells))
			}
			for c := range 7 {
				cell := cells[4*c : 4*c+4]
				if cell[0] != 0x10EEEE || cell[1] != firstDiacritics[r] || cell[2] != firstDiacritics[c] || cell[3] != firstDiacritics[hi] {
					t.Errorf("id %#x row %d col %d: %U", id, r, c, cell)
				}
			}
			// One cell each, however the terminal measures.
			if w, g := ansi.WcWidth.StringWidth(line), ansi.GraphemeWidth.StringWidth(line); w != 7 || g != 7 {
				t.Errorf("row %d is %d/%d cells wide", r, w, g)
			}
		}
	}
	if kittyPlaceholders(1, 0, 3) != nil || kittyPlaceholders(1, 3, 0) != nil {
		t.Error("placeholders for an empty box")
	}
	// Ids stay distinct for as many previews as a session could show.
	seen := map[uint32]int{}
	for n := range 240 * 255 {
		id := kittyID(n)
		if prev, dup := seen[id]; dup {
			t.Fatalf("kittyID(%d) = kittyID(%d) = %#x", n, prev, id)
		}
		seen[id] = n
	}
}

// TestPreviewSize: previewSize says which cells halfBlocks fills, for
// every shape, so the two kinds of preview take the same place.
func TestPreviewSize(t *testing.T) {
	for w := 1; w <= 90; w += 1 {
		for _, h := range []int{1, 2, 3, 7, 16, 33, 64, 90, 200} {
			img := testImage(w, h)
			for _, cols := range []int{32, 13, 1} {
				lines := halfBlocks(img, cols, previewRows)
				pw, ph := previewSize(img.Bounds(), cols, previewRows)
				if ph != len(lines) || (len(lines) > 0 && pw != len([]rune(plainText(lines[0])))) {
					t.Fatalf("%d×%d in %d cols: previewSize %d×%d, half blocks %d×%d", w, h, cols, pw, ph, len([]rune(plainText(lines[0]))), len(lines))
				}
			}
		}
	}
}

// noiseImage is w×h of random colours: it compresses badly, so its PNG
// takes several chunks.
func noiseImage(w, h int) *image.RGBA {
	rng := rand.New(rand.NewPCG(3, 4))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(rng.Uint32())
		if i%4 == 3 {
			img.Pix[i] = 0xff
		}
	}
	return img
}

// kittyModel is the main screen of a terminal that says it is kitty.
func kittyModel(t *testing.T, f *nodetest.Fake, getenv func(string) string) *Model {
	dark := true
	m := New(context.Background(), Options{API: f, Now: fixedNow, Location: time.UTC, Dark: &dark, NoBell: true, Getenv: getenv})
	m.e.noTimers = true
	drive(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	drain(t, m, m.Init())
	return m
}

var placeholderRun = regexp.MustCompile("(\U0010EEEE[\u0300-\u08ff]+)+")

// TestGoldenFileImageKitty: in kitty the preview is placeholder cells
// standing exactly where the half blocks stand elsewhere; the rest of
// the screen is the same.
func TestGoldenFileImageKitty(t *testing.T) {
	setup := func() *nodetest.Fake {
		f := world(t)
		img := testImage(120, 80)
		in := bobFile(t, f, "sunset.png", pngOf(t, img), "from the pier", thumbOf(t, img))
		f.SimFileState(in.ID, node.FileCompleted, "")
		return f
	}
	km := kittyModel(t, setup(), envOf("TERM", "xterm-kitty"))
	drive(t, km, press("down"))
	kittyScreen := plain(km)
	golden.RequireEqual(t, []byte(kittyScreen))

	half := openBob(t, setup())
	halfScreen := plain(half)
	kl, hl := strings.Split(kittyScreen, "\n"), strings.Split(halfScreen, "\n")
	if len(kl) != len(hl) {
		t.Fatalf("%d lines in kitty, %d in half blocks", len(kl), len(hl))
	}
	rows := 0
	for i := range kl {
		if !strings.Contains(hl[i], "▀") {
			if kl[i] != hl[i] {
				t.Errorf("line %d differs:\n kitty %q\n  half %q", i, kl[i], hl[i])
			}
			continue
		}
		rows++
		start := strings.Index(hl[i], "▀")
		n := strings.Count(hl[i], "▀")
		want := hl[i][:start] + strings.Repeat("■", n) + hl[i][start+n*len("▀"):]
		if got := placeholderRun.ReplaceAllStringFunc(kl[i], func(s string) string {
			return strings.Repeat("■", strings.Count(s, "\U0010EEEE"))
		}); got != want {
			t.Errorf("line %d:\n kitty %q\n  half %q", i, got, want)
		}
	}
	if rows == 0 {
		t.Fatal("no preview on the half-block screen")
	}

	// The colours (the id) survive Bubble Tea's downsampling to 256.
	var buf bytes.Buffer
	w := &colorprofile.Writer{Forward: &buf, Profile: colorprofile.ANSI256}
	w.Write([]byte(km.View().Content))
	if !strings.Contains(buf.String(), "\x1b[38;5;16m\U0010EEEE\u0305\u0305\u030D") {
		t.Errorf("the first placeholder of image %#x is not in colour 16:\n%q", kittyID(0), buf.String())
	}
}

// TestKittyFallsBack: with fewer than 256 colours, CHIVE_IMAGES=halfblock
// or a multiplexer, kitty's terminal gets the half blocks, and none is
// sent; with CHIVE_IMAGES=off or NO_COLOR there is no preview at all.
func TestKittyFallsBack(t *testing.T) {
	cases := []struct {
		name    string
		env     []string
		profile colorprofile.Profile
		blocks  bool
	}{
		{"16 colours", []string{"TERM", "xterm-kitty"}, colorprofile.ANSI, true},
		{"halfblock", []string{"TERM", "xterm-kitty", "CHIVE_IMAGES", "halfblock"}, colorprofile.TrueColor, true},
		{"tmux", []string{"TERM", "tmux-256color", "TMUX", "x", "KITTY_WINDOW_ID", "1"}, colorprofile.TrueColor, true},
		{"off", []string{"TERM", "xterm-kitty", "CHIVE_IMAGES", "off"}, colorprofile.TrueColor, false},
		{"NO_COLOR", []string{"TERM", "xterm-kitty", "NO_COLOR", "1"}, colorprofile.Ascii, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := world(t)
			img := testImage(60, 40)
			in := bobFile(t, f, "pic.png", pngOf(t, img), "", thumbOf(t, img))
			f.SimFileState(in.ID, node.FileCompleted, "")
			m := kittyModel(t, f, envOf(tc.env...))
			drive(t, m, tea.ColorProfileMsg{Profile: tc.profile})
			drive(t, m, press("down"))
			s := plain(m)
			if strings.ContainsRune(s, 0x10EEEE) || len(m.chat.files.kitty) != 0 {
				t.Errorf("kitty placeholders or images sent: %v\n%s", m.chat.files.kitty, s)
			}
			if got := strings.Contains(s, "▀"); got != tc.blocks {
				t.Errorf("half blocks %v, want %v:\n%s", got, tc.blocks, s)
			}
			if n := f.Called("Thumbnail"); (n > 0) != tc.blocks {
				t.Errorf("thumbnail fetched %d times", n)
			}
		})
	}
}

// TestKittySentOnce: a preview goes to the terminal once a session; back
// in a conversation its placeholders use the image sent before.
func TestKittySentOnce(t *testing.T) {
	f := world(t)
	img := testImage(60, 40)
	in := bobFile(t, f, "pic.png", pngOf(t, img), "", thumbOf(t, img))
	f.SimFileState(in.ID, node.FileCompleted, "")
	m := kittyModel(t, f, envOf("TERM", "xterm-kitty"))
	drive(t, m, press("down"))
	id := m.chat.files.kitty[in.ID]
	if id == 0 {
		t.Fatalf("not sent: %v", m.chat.files.kitty)
	}
	c := m.chat
	// Another conversation, then back: the thumbnail is read again, not
	// encoded or sent again.
	c.conv.address = carolAddr
	c.files.thumbsOf = carolAddr
	clear(c.files.thumbs)
	c.conv.address = bobAddr
	cmd := c.loadThumbs()
	msg := runCmd(cmd)
	tm, ok := msg.(thumbMsg)
	if !ok || tm.img == nil || tm.png != nil {
		t.Fatalf("reloaded: %#v", msg)
	}
	if c.gotThumb(tm) != nil || c.files.kitty[in.ID] != id || c.files.kittyNext != 1 {
		t.Errorf("sent again: %v next %d", c.files.kitty, c.files.kittyNext)
	}
}

// TestFlowKitty runs a real program in a terminal that says it is kitty:
// the preview goes out once as a virtual placement, a PNG of the
// thumbnail, and the screen shows placeholder cells in its id's colour.
// Inside tmux (forced with CHIVE_IMAGES=kitty) the same goes through
// passthrough.
func TestFlowKitty(t *testing.T) {
	for _, tmux := range []bool{false, true} {
		t.Run(fmt.Sprintf("tmux=%v", tmux), func(t *testing.T) {
			f := world(t)
			img := noiseImage(300, 200)
			in := bobFile(t, f, "noise.png", pngOf(t, img), "", thumbOf(t, img))
			f.SimFileState(in.ID, node.FileCompleted, "")
			env := envOf("TERM", "xterm-kitty")
			if tmux {
				env = envOf("TERM", "tmux-256color", "TMUX", "/tmp/tmux-1/default,1,0", "CHIVE_IMAGES", "kitty")
			}
			dark := true
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			tm := teatest.NewTestModel(t, New(ctx, Options{API: f, Now: fixedNow, Location: time.UTC, Dark: &dark, NoBell: true, Getenv: env}),
				teatest.WithInitialTermSize(100, 30),
				teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.TrueColor)))
			waitOut(t, tm, "Carol wants to chat with you")
			tm.Send(press("down"))
			var out bytes.Buffer
			first := fmt.Sprintf("\x1b_Ga=T,U=1,f=100,i=%d,c=24,r=8,q=2,", kittyID(0))
			if tmux {
				first = "\x1bPtmux;" + strings.ReplaceAll(first, "\x1b", "\x1b\x1b")
			}
			cell := fmt.Sprintf("\x1b[38;5;16m\U0010EEEE%c%c%c", firstDiacritics[0], firstDiacritics[0], firstDiacritics[1])
			teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
				// b is all the output so far
				out.Reset()
				out.Write(b)
				return bytes.Contains(out.Bytes(), []byte(first)) && bytes.Contains(out.Bytes(), []byte(cell))
			}, teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(20*time.Millisecond))
			tm.Send(press("ctrl+q"))
			tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))

			// The transmission, from its first command to its last (m=0).
			s := out.String()
			s = s[strings.Index(s, first):]
			var payload strings.Builder
			chunks := 0
			for done := false; !done; chunks++ {
				stop := "\x1b\\"
				if tmux {
					stop = "\x1b\x1b\\\x1b\\"
				}
				i := strings.Index(s, stop)
				if i < 0 {
					t.Fatalf("transmission cut short after %d chunks", chunks)
				}
				seq := s[:i+len(stop)]
				s = s[i+len(stop):]
				if tmux {
					seq = untmux(t, seq)
				}
				cmds := parseKitty(t, seq)
				if len(cmds) != 1 {
					t.Fatalf("%d commands in %q", len(cmds), seq[:min(len(seq), 60)])
				}
				payload.WriteString(cmds[0].payload)
				done = cmds[0].keys["m"] == "0"
			}
			if chunks < 2 {
				t.Errorf("%d chunks: the noise should need several", chunks)
			}
			data, err := base64.StdEncoding.DecodeString(payload.String())
			if err != nil {
				t.Fatal(err)
			}
			got, err := png.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("not a PNG: %v", err)
			}
			// What the sender made, whole: at most 320 pixels, 3:2.
			if b := got.Bounds(); b.Dx() > 320 || b.Dx() < 100 || b.Dx()*2 != b.Dy()*3 {
				t.Errorf("sent %v", b)
			}
			if strings.Contains(s, "\x1b_G") {
				t.Error("sent more than once")
			}
		})
	}
}

// TestKittyThroughTmux passes a transmission of several chunks through a
// real tmux with allow-passthrough on, to a client in a pseudo-terminal
// (script(1)): what reaches the terminal outside is the unwrapped
// transmission's commands, byte for byte.
func TestKittyThroughTmux(t *testing.T) {
	if testing.Short() {
		t.Skip("runs tmux")
	}
	if runtime.GOOS != "linux" {
		t.Skip("script(1) options are util-linux's")
	}
	for _, tool := range []string{"tmux", "script"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s", tool)
		}
	}
	dir := t.TempDir()
	data := make([]byte, 10_000)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	seqFile, outFile := filepath.Join(dir, "seq"), filepath.Join(dir, "out")
	if err := os.WriteFile(seqFile, []byte(kittyTransmit(kittyID(0), data, 24, 8, true)), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := fmt.Sprintf("chive-kitty-%d", os.Getpid())
	tmux := func(args ...string) *exec.Cmd {
		return exec.Command("tmux", append([]string{"-L", sock, "-f", "/dev/null"}, args...)...)
	}
	t.Cleanup(func() {
		tmux("kill-server").Run()
		// and the socket file it leaves behind
		dir := os.Getenv("TMUX_TMPDIR")
		if dir == "" {
			dir = "/tmp"
		}
		os.Remove(filepath.Join(dir, fmt.Sprintf("tmux-%d", os.Getuid()), sock))
	})
	// The pane waits for the client, writes the transmission, and ends,
	// which ends the client and script.
	pane := fmt.Sprintf("while [ -z \"$(tmux -L %s list-clients)\" ]; do sleep 0.1; done; cat %s; sleep 1", sock, seqFile)
	if out, err := tmux("new-session", "-d", "-x", "80", "-y", "10", pane, ";", "set", "-g", "allow-passthrough", "on").CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v %s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := exec.CommandContext(ctx, "script", "-q", "-c", "tmux -L "+sock+" attach", outFile)
	client.Env = append(os.Environ(), "TERM=xterm-256color")
	if out, err := client.CombinedOutput(); err != nil {
		t.Fatalf("script: %v %s", err, out)
	}
	got, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	want := kittyTransmit(kittyID(0), data, 24, 8, false)
	// tmux writes each passthrough on its own, with its own sequences
	// between them: the graphics commands must come whole and in order.
	var cmds []string
	for rest := string(got); ; {
		i := strings.Index(rest, "\x1b_G")
		if i < 0 {
			break
		}
		j := strings.Index(rest[i:], "\x1b\\")
		if j < 0 {
			t.Fatal("a graphics command cut short")
		}
		cmds = append(cmds, rest[i:i+j+2])
		rest = rest[i+j+2:]
	}
	if strings.Join(cmds, "") != want {
		t.Errorf("the terminal outside got %d graphics commands (%d bytes), not the %d sent", len(cmds), len(strings.Join(cmds, "")), strings.Count(want, "\x1b_G"))
	}
}
