package tui

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/chive-im/chive/internal/media"
	"github.com/chive-im/chive/node"
	"github.com/chive-im/chive/node/nodetest"
)

// testImage is a w×h picture: red on the left half, blue on the right,
// darker downwards.
func testImage(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := uint8(255 - y*128/h)
			c := color.RGBA{R: v, A: 255}
			if x >= w/2 {
				c = color.RGBA{B: v, A: 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func pngOf(t testing.TB, img image.Image) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// thumbOf is the thumbnail a sender makes.
func thumbOf(t testing.TB, img image.Image) []byte {
	b, err := media.Thumbnail(img, 320, 16<<10)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// bobFile makes Bob offer a file to Alice, as the network would.
func bobFile(t testing.TB, f *nodetest.Fake, name string, data []byte, caption string, thumb []byte) node.Message {
	return f.SimFile("Bob", name, data, caption, thumb)
}

// openBob is the main screen at 80×24 with Bob's conversation open.
func openBob(t *testing.T, f *nodetest.Fake) *Model {
	m := testModel(t, f, 80, 24)
	drive(t, m, press("down"))
	return m
}

func TestGoldenFiles(t *testing.T) {
	cases := []struct {
		name string
		// setup runs before the model opens (history) and after (events).
		before func(t *testing.T, f *nodetest.Fake) string
		after  func(t *testing.T, f *nodetest.Fake, m *Model, id string)
	}{
		{"file_progress", func(t *testing.T, f *nodetest.Fake) string {
			in := bobFile(t, f, "slides.pdf", bytes.Repeat([]byte("%PDF-1.7 "), 400_000), "the slides for Friday", nil)
			if _, err := f.AcceptFile(context.Background(), in.ID); err != nil {
				t.Fatal(err)
			}
			return in.ID
		}, func(t *testing.T, f *nodetest.Fake, m *Model, id string) {
			f.SimFileProgressRate(id, 1_500_000, 300_000)
			drain(t, m, nil)
		}},
		{"file_image", func(t *testing.T, f *nodetest.Fake) string {
			img := testImage(120, 80)
			in := bobFile(t, f, "sunset.png", pngOf(t, img), "from the pier", thumbOf(t, img))
			f.SimFileState(in.ID, node.FileCompleted, "")
			return in.ID
		}, nil},
		{"file_offer", func(t *testing.T, f *nodetest.Fake) string {
			return bobFile(t, f, "backup.tar", bytes.Repeat([]byte{0}, 50<<20), "", nil).ID
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := world(t)
			id := tc.before(t, f)
			m := openBob(t, f)
			if tc.after != nil {
				tc.after(t, f, m, id)
			}
			golden.RequireEqual(t, []byte(plain(m)))
		})
	}
}

// TestFileProgressBothSides: the progress events move the bar of a file we
// send and of one we receive, with speed and time left.
func TestFileProgressBothSides(t *testing.T) {
	f := world(t)
	in := bobFile(t, f, "in.bin", make([]byte, 1000_000), "", nil)
	path := filepath.Join(t.TempDir(), "out.bin")
	if err := os.WriteFile(path, make([]byte, 2000_000), 0o600); err != nil {
		t.Fatal(err)
	}
	m := openBob(t, f)
	drive(t, m, press("ctrl+l"))
	drive(t, m, press("a"))
	out, err := f.SendFile(context.Background(), "Bob", path, "")
	if err != nil {
		t.Fatal(err)
	}
	f.SimFileState(out.ID, node.FileAccepted, "")
	f.SimFileProgressRate(in.ID, 250_000, 50_000)
	f.SimFileProgressRate(out.ID, 1000_000, 100_000)
	drain(t, m, nil)
	s := plain(m)
	for _, want := range []string{" 25%  244 KiB / 977 KiB  49 KiB/s  15 s left", " 50%  977 KiB / 1.9 MiB  98 KiB/s  10 s left"} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q on screen:\n%s", want, s)
		}
	}
	// Completion ends the bar on both sides.
	f.SimFileState(in.ID, node.FileCompleted, "")
	f.SimFileState(out.ID, node.FileCompleted, "")
	drain(t, m, nil)
	s = plain(m)
	if strings.Contains(s, "%") || !strings.Contains(s, "✓ received") || !strings.Contains(s, "✓ sent") {
		t.Errorf("after completion:\n%s", s)
	}
}

// TestFileProgressThrottled: a burst of progress events redraws the
// conversation only when the percentage changes.
func TestFileProgressThrottled(t *testing.T) {
	f := world(t)
	in := bobFile(t, f, "in.bin", make([]byte, 1000_000), "", nil)
	m := openBob(t, f)
	drive(t, m, press("ctrl+l"))
	drive(t, m, press("a"))
	c := m.chat
	ev := func(b int64) eventMsg {
		return eventMsg{ev: node.FileProgressEvent{ID: in.ID, Address: bobAddr, Direction: node.Incoming, Bytes: b, Size: 1000_000, Rate: 1000}}
	}
	c.dirty = false
	c.update(ev(500_000))
	if !c.dirty {
		t.Fatal("the first progress is not drawn")
	}
	c.relayout()
	// The clock is fixed: more bytes within the same percentage are kept
	// but not laid out again.
	for i := range 50 {
		c.update(ev(int64(500_001 + i*100)))
		if c.dirty {
			t.Fatalf("event %d within 50%% asked for a redraw", i)
		}
	}
	if got := c.conv.msgs[c.conv.index(in.ID)].File.Bytes; got != 500_001+49*100 {
		t.Errorf("bytes kept: %d", got)
	}
	c.update(ev(510_000))
	if !c.dirty {
		t.Error("a new percentage is not drawn")
	}
	c.relayout()
	if !strings.Contains(plain(m), " 51%") {
		t.Errorf("screen:\n%s", plain(m))
	}
	// A second later the speed is drawn again, same percentage or not.
	now := testNow.Add(2 * time.Second)
	c.now = func() time.Time { return now }
	c.dirty = false
	c.update(ev(510_001))
	if !c.dirty {
		t.Error("a second later, nothing drawn")
	}
}

func TestHalfBlocksColours(t *testing.T) {
	img := testImage(4, 4) // columns 0-1 red, 2-3 blue; rows darker downwards
	lines := halfBlocks(img, 4, 2)
	if len(lines) != 2 {
		t.Fatalf("%d lines: %q", len(lines), lines)
	}
	if got := plainText(lines[0]); got != "▀▀▀▀" {
		t.Errorf("cells %q", got)
	}
	// Upper pixel as the foreground, lower as the background, true colour.
	if !strings.HasPrefix(lines[0], "\x1b[38;2;255;0;0;48;2;223;0;0m▀") || !strings.Contains(lines[0], "\x1b[38;2;0;0;255;48;2;0;0;223m▀") {
		t.Errorf("first row %q", lines[0])
	}
	// Fits the box, keeping the shape: 120×80 in 32×8 cells is 24×16 pixels.
	big := halfBlocks(testImage(120, 80), 32, 8)
	if len(big) != 8 || plainText(big[0]) != strings.Repeat("▀", 24) {
		t.Errorf("%d rows of %q", len(big), plainText(big[0]))
	}
	// An odd number of pixel rows: the last row fills its whole cell.
	odd := halfBlocks(testImage(2, 3), 2, 2)
	if len(odd) != 2 || !strings.HasPrefix(odd[1], "\x1b[38;2;170;0;0;48;2;170;0;0m▀") {
		t.Errorf("odd rows %q", odd)
	}
}

// TestNoPreviewWithoutColour: without colours a preview is blocks of
// nothing; the file shows without one, and no thumbnail is fetched.
func TestNoPreviewWithoutColour(t *testing.T) {
	f := world(t)
	img := testImage(60, 40)
	in := bobFile(t, f, "pic.png", pngOf(t, img), "", thumbOf(t, img))
	f.SimFileState(in.ID, node.FileCompleted, "")
	m := testModel(t, f, 80, 24)
	m.e.colour = false
	drive(t, m, press("down"))
	if s := plain(m); strings.Contains(s, "▀") || !strings.Contains(s, "pic.png") {
		t.Errorf("screen:\n%s", s)
	}
	if n := f.Called("Thumbnail"); n != 0 {
		t.Errorf("thumbnail fetched %d times", n)
	}
}

// TestFilesDialogKeys: accept, save, open, cancel (asked twice), pause,
// resume and retry on the files of a conversation, against the fake.
func TestFilesDialogKeys(t *testing.T) {
	dir := t.TempDir()
	opened := filepath.Join(dir, "opened")
	script := filepath.Join(dir, "open.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nprintf %s \"$1\" > "+opened+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	f := world(t)
	in := bobFile(t, f, "report.pdf", []byte("%PDF-1.7 the report"), "", nil)
	dark := true
	m := New(context.Background(), Options{API: f, Now: fixedNow, Location: time.UTC, Dark: &dark, NoBell: true,
		Getenv: func(k string) string {
			if k == "CHIVE_OPENER" {
				return "sh " + script
			}
			return ""
		}})
	m.e.noTimers = true
	drive(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	drain(t, m, m.Init())
	drive(t, m, press("down"))

	if s := plain(m); !strings.Contains(s, "offered · ctrl+l then a to accept") {
		t.Fatalf("the offer does not say how to accept:\n%s", s)
	}
	drive(t, m, press("ctrl+l"))
	if s := plain(m); !strings.Contains(s, "Files with Bob") || !strings.Contains(s, "report.pdf") || !strings.Contains(s, "a accept") {
		t.Fatalf("files dialog:\n%s", s)
	}
	drive(t, m, press("o")) // not here yet
	drive(t, m, press("a"))
	if tr, _ := f.File(context.Background(), in.ID); tr.State != node.FileAccepted {
		t.Fatalf("after a: %s", tr.State)
	}
	// Pause and resume.
	drive(t, m, press("ctrl+l"))
	drive(t, m, press("p"))
	if tr, _ := f.File(context.Background(), in.ID); tr.State != node.FilePaused {
		t.Fatalf("after p: %s", tr.State)
	}
	if s := plain(m); !strings.Contains(s, "paused · ctrl+l then p to resume") {
		t.Errorf("paused file:\n%s", s)
	}
	drive(t, m, press("ctrl+l"))
	drive(t, m, press("r")) // retry resumes a paused transfer
	if tr, _ := f.File(context.Background(), in.ID); tr.State != node.FileAccepted {
		t.Fatalf("after r: %s", tr.State)
	}
	f.SimFileState(in.ID, node.FileCompleted, "")
	drain(t, m, nil)

	// Save to a path typed in the save dialog.
	drive(t, m, press("ctrl+l"))
	drive(t, m, press("s"))
	if s := plain(m); !strings.Contains(s, "Save a file") {
		t.Fatalf("save dialog:\n%s", s)
	}
	target := filepath.Join(dir, "saved.pdf")
	m.chat.dialog.(*saveDialog).in.SetValue("")
	drive(t, m, tea.PasteMsg{Content: target})
	drive(t, m, press("enter"))
	if b, err := os.ReadFile(target); err != nil || string(b) != "%PDF-1.7 the report" {
		t.Fatalf("saved: %q %v", b, err)
	}
	if m.chat.dialog != nil || !strings.Contains(plain(m), "saved report.pdf to /") {
		t.Errorf("after saving:\n%s", plain(m))
	}
	// Saving again there is refused, and the dialog stays to choose another path.
	drive(t, m, press("ctrl+l"))
	drive(t, m, press("s"))
	m.chat.dialog.(*saveDialog).in.SetValue(target)
	drive(t, m, press("enter"))
	if _, ok := m.chat.dialog.(*saveDialog); !ok || !strings.Contains(plain(m), "exists") {
		t.Errorf("saving over a file:\n%s", plain(m))
	}
	drive(t, m, press("esc"))

	// Open hands the decrypted copy to $CHIVE_OPENER.
	drive(t, m, press("ctrl+l"))
	drive(t, m, press("o"))
	var got []byte
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got, _ = os.ReadFile(opened); len(got) > 0 {
			break
		}
	}
	if b, err := os.ReadFile(string(got)); err != nil || string(b) != "%PDF-1.7 the report" {
		t.Errorf("the opener got %q: %q %v", got, b, err)
	}

	// Cancel asks twice, on a new offer.
	next := bobFile(t, f, "more.pdf", []byte("%PDF-1.7 more"), "", nil)
	drain(t, m, nil)
	drive(t, m, press("ctrl+l"))
	drive(t, m, press("x"))
	if s := plain(m); !strings.Contains(s, "press x again to cancel more.pdf") {
		t.Fatalf("cancel does not ask:\n%s", s)
	}
	drive(t, m, press("x"))
	if tr, _ := f.File(context.Background(), next.ID); tr.State != node.FileCancelled {
		t.Fatalf("after x x: %s", tr.State)
	}
	if s := plain(m); !strings.Contains(s, "✗ cancelled") {
		t.Errorf("cancelled file:\n%s", s)
	}
	// An incoming file cancelled cannot be retried here.
	drive(t, m, press("ctrl+l"))
	drive(t, m, press("r"))
	if s := plain(m); !strings.Contains(s, "ask Bob to send it again") {
		t.Errorf("retry of a cancelled incoming file:\n%s", s)
	}
}

// TestRetryOffersAgain: a file we attached that failed is offered again
// from its path.
func TestRetryOffersAgain(t *testing.T) {
	f := world(t)
	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(path, []byte("notes"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := openBob(t, f)
	drive(t, m, press("ctrl+a"))
	drive(t, m, tea.PasteMsg{Content: path})
	drive(t, m, press("enter"))
	ts, _ := f.Files(context.Background(), node.FileQuery{})
	if len(ts) != 1 || ts[0].Name != "notes.txt" {
		t.Fatalf("files: %+v", ts)
	}
	f.SimFileState(ts[0].ID, node.FileFailed, "refused: larger than their limit")
	drain(t, m, nil)
	if s := plain(m); !strings.Contains(s, "✗ refused: larger than their limit") {
		t.Fatalf("failed file:\n%s", s)
	}
	drive(t, m, press("ctrl+l"))
	drive(t, m, press("r"))
	if n := f.Called("SendFile"); n != 2 {
		t.Errorf("SendFile called %d times", n)
	}
}

// TestAttachNeedsAnAcceptedContact: Carol has not been accepted.
func TestAttachNeedsAnAcceptedContact(t *testing.T) {
	f := world(t)
	m := testModel(t, f, 80, 24) // Carol's request is open
	drive(t, m, press("ctrl+a"))
	if m.chat.dialog != nil || !strings.Contains(plain(m), "accept Carol first") {
		t.Errorf("screen:\n%s", plain(m))
	}
}

// TestFlowAttachViaPicker attaches an image through the file picker in a
// real program: a path typed into the dialog opens its folder, enter on
// the file sends it, and the node's events put it on screen with its
// preview, then move it to sent.
func TestFlowAttachViaPicker(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	img := testImage(90, 60)
	if err := os.WriteFile(filepath.Join(dir, "sub", "beach.png"), pngOf(t, img), 0o600); err != nil {
		t.Fatal(err)
	}
	f := world(t)
	dark := true
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	// In true colour: previews need colours.
	tm := teatest.NewTestModel(t, New(ctx, Options{API: f, Now: fixedNow, Location: time.UTC, Dark: &dark, NoBell: true, Getenv: noEnv}),
		teatest.WithInitialTermSize(100, 30), teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.TrueColor)))
	waitOut(t, tm, "Carol wants to chat with you")
	tm.Send(press("down")) // Bob
	waitOut(t, tm, "Lunch tomorrow?")
	tm.Send(press("ctrl+a"))
	waitOut(t, tm, "Send a file to Bob")
	tm.Type(dir + "/")
	tm.Send(press("enter"))
	waitOut(t, tm, "sub")
	tm.Send(press("enter")) // into sub/
	waitOut(t, tm, "beach.png")
	tm.Send(press("tab"))
	tm.Send(press("tab"))
	tm.Type("low tide")
	tm.Send(press("shift+tab"))
	tm.Send(press("shift+tab"))
	tm.Send(press("enter"))
	// The message and its preview come in one frame or two: wait for the
	// preview (WaitFor consumes what it reads).
	waitOut(t, tm, "▀")

	ts, err := f.Files(context.Background(), node.FileQuery{})
	if err != nil || len(ts) != 1 || ts[0].Name != "beach.png" {
		t.Fatalf("the node's files: %+v %v", ts, err)
	}
	id := ts[0].ID
	if ms, _ := f.History(context.Background(), "Bob", "", 1); len(ms) != 1 || ms[0].Text != "low tide" {
		t.Errorf("caption: %+v", ms)
	}
	f.SimFileState(id, node.FileAccepted, "")
	half := ts[0].Size / 2
	f.SimFileProgressRate(id, half, 1000)
	waitOut(t, tm, fmt.Sprintf("%d%%", half*100/ts[0].Size))
	f.SimFileState(id, node.FileCompleted, "")
	waitOut(t, tm, "✓ sent")
	tm.Send(press("ctrl+q"))
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*Model)
	if v := fm.chat.View(); !strings.Contains(v, "\x1b[38;2;") || strings.Count(plainText(v), "▀") < 100 {
		t.Errorf("no preview in true colour:\n%s", v)
	}
}

// TestFileStateBeforeMessage: a file.state that races ahead of its
// message is kept, and the message shows the newer state.
func TestFileStateBeforeMessage(t *testing.T) {
	f := world(t)
	m := openBob(t, f)
	file := node.File{ID: "f1", Name: "late.bin", Size: 10, State: node.FileCompleted, Bytes: 10}
	drive(t, m, eventMsg{ev: node.FileStateEvent{Transfer: node.Transfer{File: file, Address: bobAddr, Direction: node.Incoming}}})
	offered := file
	offered.State, offered.Bytes = node.FileOffered, 0
	drive(t, m, eventMsg{ev: node.MessageEvent{Message: node.Message{ID: "f1", Address: bobAddr, Direction: node.Incoming, Time: testNow, State: node.Received, File: &offered}}})
	if s := plain(m); !strings.Contains(s, "✓ received") || strings.Contains(s, "offered ·") {
		t.Errorf("screen:\n%s", s)
	}
	if len(m.chat.files.early) != 0 {
		t.Errorf("early states left: %v", m.chat.files.early)
	}
}

// TestGoldenFileImageColour keeps the preview's colours, downsampled to
// 256 colours as Bubble Tea does for such a terminal.
func TestGoldenFileImageColour(t *testing.T) {
	f := world(t)
	img := testImage(120, 80)
	in := bobFile(t, f, "sunset.png", pngOf(t, img), "", thumbOf(t, img))
	f.SimFileState(in.ID, node.FileCompleted, "")
	m := openBob(t, f)
	var buf bytes.Buffer
	w := &colorprofile.Writer{Forward: &buf, Profile: colorprofile.ANSI256}
	w.Write([]byte(m.View().Content))
	golden.RequireEqual(t, buf.Bytes())
}
