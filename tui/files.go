package tui

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/chive-im/chive/internal/media"
	"github.com/chive-im/chive/internal/safetext"
	"github.com/chive-im/chive/node"
)

// Files in the chat (issue 15): what the node's file events change on
// screen, the previews, and the node calls behind attaching and the files
// dialog's keys. Drawing is in filemsg.go.

// fileState is the chat's knowledge of transfers beyond their messages.
type fileState struct {
	rate  map[string]float64   // recent speed of transfers moving, by id
	drawn map[string]drawnMark // when progress was last drawn, by id
	// early holds a file's state that came before its message (the two
	// events race); the message takes it when it comes.
	early map[string]node.File
	// thumbs are the previews of the open conversation (thumbsOf), by
	// id; nil while loading or when there is none.
	thumbs   map[string]image.Image
	thumbsOf string
	// kitty holds the image ids of previews sent to the terminal by the
	// kitty graphics protocol, by file id; the terminal keeps them, so
	// each is sent once. kittyNext numbers the next (kittyID).
	kitty     map[string]uint32
	kittyNext int
	// paths of files attached here, to offer one again after it failed.
	paths   map[string]string
	lastDir string // where the last file attached came from
}

type drawnMark struct {
	at  time.Time
	pct int
}

func newFileState() fileState {
	return fileState{rate: map[string]float64{}, drawn: map[string]drawnMark{}, early: map[string]node.File{},
		thumbs: map[string]image.Image{}, kitty: map[string]uint32{}, paths: map[string]string{}}
}

// redrawEvery bounds progress redraws: a file's bar is drawn again when
// its percentage changes, and its speed at most this often.
const redrawEvery = time.Second

// maxEarly bounds states kept for messages not seen yet.
const maxEarly = 256

// fileLook is what the layout needs to draw file messages.
func (c *chatModel) fileLook() fileLook {
	l := fileLook{rate: c.files.rate, thumbs: c.files.thumbs, colour: c.colour, hint: firstKey(c.keys.Files)}
	if c.kittyImages() {
		l.kitty = c.files.kitty
	}
	return l
}

// kittyImages says whether previews go by the kitty graphics protocol:
// chosen (detectImages), and with the colours its image ids are written in.
func (c *chatModel) kittyImages() bool {
	return c.images == imagesKitty && c.colour && c.colours256
}

// fileProgress takes a FileProgressEvent: the bar moves, redrawn when its
// percentage changes or its speed is a second old.
func (c *chatModel) fileProgress(e node.FileProgressEvent) {
	c.files.rate[e.ID] = e.Rate
	if e.Address != c.conv.address {
		return
	}
	i := c.conv.index(e.ID)
	if i < 0 || c.conv.msgs[i].File == nil {
		return
	}
	f := *c.conv.msgs[i].File
	f.Bytes = e.Bytes
	if e.Size > 0 {
		f.Size = e.Size
	}
	c.conv.msgs[i].File = &f
	pct := 0
	if f.Size > 0 {
		pct = int(f.Bytes * 100 / f.Size)
	}
	now, last := c.now(), c.files.drawn[e.ID]
	if pct != last.pct || now.Sub(last.at) >= redrawEvery {
		c.files.drawn[e.ID] = drawnMark{at: now, pct: pct}
		c.dirty = true
	}
}

// fileChanged takes a FileStateEvent: never dropped, always drawn.
func (c *chatModel) fileChanged(t node.Transfer) tea.Cmd {
	file := t.File
	switch file.State {
	case node.FileCompleted, node.FileFailed, node.FileCancelled:
		delete(c.files.rate, file.ID)
		delete(c.files.drawn, file.ID)
	}
	if i := c.conv.index(file.ID); t.Address == c.conv.address && i >= 0 {
		c.conv.msgs[i].File = &file
		c.dirty = true
	} else {
		if len(c.files.early) >= maxEarly {
			clear(c.files.early)
		}
		c.files.early[file.ID] = file
	}
	if t.Direction == node.Outgoing && file.State == node.FileFailed && file.Error != "" {
		return c.bar.setFlash(safeName(file)+": "+file.Error, true)
	}
	return nil
}

// takeEarly gives a message the file state that came before it.
func (c *chatModel) takeEarly(m *node.Message) {
	if m.File == nil {
		return
	}
	if f, ok := c.files.early[m.ID]; ok {
		m.File = &f
		delete(c.files.early, m.ID)
	}
}

// thumbMsg is a decoded preview, or why there is none; png is the
// preview to send to the terminal, for the kitty graphics protocol.
type thumbMsg struct {
	address, id string
	img         image.Image
	png         []byte
	err         error
}

// Thumbnails are decoded with limits well above what a sender makes (320
// pixels, 16 KiB), then kept small: enough for previewCols cells.
var thumbLimits = media.Limits{MaxSide: 2048, MaxPixels: 2048 * 2048}

const thumbKeep = 2 * previewCols

// kittySide bounds the side of a preview sent to the terminal: the
// terminal scales it to the preview's cells in its own pixels, so it
// gets what the sender made (at most 320 pixels).
const kittySide = 320

// loadThumbs asks for the previews of the open conversation's images not
// loaded yet.
func (c *chatModel) loadThumbs() tea.Cmd {
	if !c.colour || c.images == imagesOff {
		return nil
	}
	kitty := c.kittyImages()
	if c.files.thumbsOf != c.conv.address {
		clear(c.files.thumbs)
		c.files.thumbsOf = c.conv.address
	}
	var cmds []tea.Cmd
	for i := range c.conv.msgs {
		f := c.conv.msgs[i].File
		if f == nil || !previewable(f) {
			continue
		}
		if _, asked := c.files.thumbs[f.ID]; asked {
			continue
		}
		c.files.thumbs[f.ID] = nil
		api, addr, id := c.api, c.conv.address, f.ID
		send := kitty && c.files.kitty[id] == 0
		cmds = append(cmds, call(c.ctx, func(ctx context.Context) tea.Msg {
			t, err := api.Thumbnail(ctx, id)
			if err != nil || t.Data == nil {
				return thumbMsg{address: addr, id: id, err: err}
			}
			img, _, err := media.DecodeImage(bytes.NewReader(t.Data), thumbLimits)
			if err != nil {
				return thumbMsg{address: addr, id: id, err: err}
			}
			msg := thumbMsg{address: addr, id: id, img: media.Scale(img, thumbKeep)}
			if send {
				var buf bytes.Buffer
				if err := png.Encode(&buf, media.Scale(img, kittySide)); err == nil {
					msg.png = buf.Bytes()
				}
			}
			return msg
		}))
	}
	return tea.Batch(cmds...)
}

// gotThumb takes a decoded preview; for the kitty graphics protocol it
// returns the command that sends it to the terminal.
func (c *chatModel) gotThumb(msg thumbMsg) tea.Cmd {
	if msg.address != c.files.thumbsOf || msg.img == nil {
		return nil // another conversation's, or none: the message shows without
	}
	c.files.thumbs[msg.id] = msg.img
	var send tea.Cmd
	if msg.png != nil && c.kittyImages() && c.files.kitty[msg.id] == 0 {
		// The placement takes the cells the half blocks would.
		id := kittyID(c.files.kittyNext)
		c.files.kittyNext++
		c.files.kitty[msg.id] = id
		w, h := previewSize(msg.img.Bounds(), previewCols, previewRows)
		send = tea.Raw(kittyTransmit(id, msg.png, w, h, c.term.tmux))
	}
	// Keep a scrolled-up view steady as the preview's lines come in.
	before := len(c.conv.lines)
	c.dirty = true
	c.relayout()
	if c.conv.scroll > 0 {
		c.conv.scroll += len(c.conv.lines) - before
		c.conv.clamp(c.convHeight())
	}
	return send
}

// attach opens the attach dialog for the open conversation.
func (c *chatModel) attach() tea.Cmd {
	ct := c.list.current()
	switch {
	case ct == nil:
		return c.bar.setFlash("choose a contact first ("+firstKey(c.keys.Switcher)+")", true)
	case ct.State == node.StatePendingIncoming:
		return c.bar.setFlash("accept "+displayName(*ct)+" first ("+firstKey(c.keys.OpenChat)+" in the list)", true)
	case ct.State == node.StateBlocked:
		return c.bar.setFlash("you blocked "+displayName(*ct)+"; unblock them first ("+firstKey(c.keys.Details)+")", true)
	case ct.State != node.StateAccepted:
		return c.bar.setFlash(displayName(*ct)+" has not accepted yet: files can be sent once they do", true)
	}
	d := newAttachDialog(c.env, *ct, c.files.lastDir, c.width, c.height)
	return c.apply(showDialog{d: d, init: d.init()})
}

// attachedMsg is the reply to SendFile: the file's message comes by its
// event; the reply carries the error, and the id to remember the path by.
type attachedMsg struct {
	id, path string
	err      error
}

// sendFile offers a file to a contact. SendFile copies the file into the
// profile before it returns, which takes long for a large file, so it
// runs without the usual call timeout.
func (c *chatModel) sendFile(a attachFile) tea.Cmd {
	if c.conv.address == a.address {
		c.conv.follow = true
		c.dirty = true
	}
	c.files.lastDir = filepath.Dir(a.path)
	api := c.api
	return tea.Batch(c.bar.setFlash("attaching "+filepath.Base(a.path)+"…", false), local(c.ctx, func(ctx context.Context) tea.Msg {
		m, err := api.SendFile(ctx, a.address, a.path, a.caption)
		return attachedMsg{id: m.ID, path: a.path, err: err}
	}))
}

func (c *chatModel) attached(msg attachedMsg) tea.Cmd {
	if msg.err != nil {
		c.conv.follow = false
		return c.bar.setFlash("attach: "+msg.err.Error(), true)
	}
	c.files.paths[msg.id] = msg.path
	return nil
}

// showFiles opens the files dialog on the open conversation's files.
func (c *chatModel) showFiles() tea.Cmd {
	ct := c.list.current()
	if ct == nil {
		return c.bar.setFlash("choose a contact first ("+firstKey(c.keys.Switcher)+")", true)
	}
	var ms []node.Message
	for i := len(c.conv.msgs) - 1; i >= 0; i-- {
		if c.conv.msgs[i].File != nil {
			ms = append(ms, c.conv.msgs[i])
		}
	}
	if len(ms) == 0 {
		return c.bar.setFlash("no files in this conversation yet · "+firstKey(c.keys.Attach)+" attaches one", false)
	}
	return c.apply(showDialog{d: newFilesDialog(c.env, c.connection(), *ct, ms, c.files.paths, c.width)})
}

// opener is the command that opens a file for the user: $CHIVE_OPENER
// (a program and its arguments, split on spaces), else xdg-open or open.
func opener(getenv func(string) string) []string {
	if o := strings.Fields(getenv("CHIVE_OPENER")); len(o) > 0 {
		return o
	}
	switch runtime.GOOS {
	case "darwin":
		return []string{"open"}
	case "windows":
		return []string{"rundll32", "url.dll,FileProtocolHandler"}
	}
	return []string{"xdg-open"}
}

// openFile decrypts a file to the node's private temporary directory and
// hands the copy to the opener, without waiting for it (a viewer stays
// open); its output goes nowhere, so it cannot draw over the screen.
func openFile(ctx context.Context, api node.API, getenv func(string) string, f node.File) tea.Cmd {
	return call(ctx, func(ctx context.Context) tea.Msg {
		path, err := api.OpenFile(ctx, f.ID)
		if err != nil {
			return doneMsg{err: fmt.Errorf("open %s: %w", safeName(f), err)}
		}
		argv := append(opener(getenv), path)
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
		if err := cmd.Start(); err != nil {
			return doneMsg{err: fmt.Errorf("open %s with %s: %w (set CHIVE_OPENER)", safeName(f), argv[0], err)}
		}
		go cmd.Wait() // reap it whenever it ends
		return doneMsg{flash: "opened " + safeName(f) + " with " + filepath.Base(argv[0])}
	})
}

// preview is a message as the contact list and notifications show it: a
// file by its name (as the node's contact preview does).
func preview(m node.Message) string {
	if m.File == nil {
		return m.Text
	}
	return strings.TrimSpace("[" + m.File.Name + "] " + m.Text)
}

// safeName is a file's name as printed: peer text goes through safetext.
func safeName(f node.File) string { return safetext.Line(f.Name) }

// expandPath makes a typed path absolute: ~ is the home directory, and a
// relative path is taken from dir.
func expandPath(p, dir string) string {
	p = strings.TrimSpace(p)
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, strings.TrimPrefix(p, "~"))
		}
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	return filepath.Clean(p)
}
