package tui

import (
	"fmt"
	"image"
	"image/color"
	"strconv"
	"strings"
	"time"

	"github.com/chive-im/chive/internal/media"
	"github.com/chive-im/chive/internal/safetext"
	"github.com/chive-im/chive/node"
)

// How a file message is drawn in the conversation: its name and size, an
// image's preview in half blocks, a progress bar while it moves, and a
// line saying what it waits for. The state it draws comes from the
// node's events (files.go).

// Preview bounds, in cells: a half block is two pixels high, so a cell
// holds 1×2 roughly square pixels.
const (
	previewCols = 32
	previewRows = 8
)

// fileLook is what drawing file messages needs beyond the message.
type fileLook struct {
	rate   map[string]float64     // bytes per second of transfers moving, by id
	thumbs map[string]image.Image // decoded previews, by id
	colour bool                   // the terminal shows colours: previews need them
	hint   string                 // the key of the files dialog, for hints
	// kitty holds the image ids of previews sent by the kitty graphics
	// protocol, by file id (nil when previews are half blocks).
	kitty map[string]uint32
}

// signature changes whenever a file message would be drawn differently,
// so the layout's cache redraws it.
func (l fileLook) signature(m *node.Message) string {
	f := m.File
	thumb := l.thumbs[f.ID] != nil
	return fmt.Sprintf("%s|%d|%d|%s|%s|%.0f|%v|%v|%d", f.State, f.Bytes, f.Size, f.Error, f.MediaType, l.rate[f.ID], thumb, l.colour, l.kitty[f.ID])
}

// previewable says whether a file's thumbnail may be shown: the sender
// made one, and the content (once sniffed) is an image.
func previewable(f *node.File) bool {
	return f.Thumbnail && (f.MediaType == "" || media.IsImage(f.MediaType))
}

// renderFile draws a file message: name, size and state mark, the
// preview, the progress or state line, then the caption.
func renderFile(m *node.Message, bodyW int, lastRead bool, stamp string, st *Styles, cs cells, l fileLook) []string {
	f := m.File
	var lines []string
	var marks []string
	if stamp != "" {
		marks = append(marks, st.Time.Render(stamp))
	}
	if m.Direction == node.Outgoing {
		mark := stateMark(st, m.State)
		if lastRead {
			mark += st.Time.Render(" read")
		}
		marks = append(marks, mark)
	}
	mark := strings.Join(marks, " ")
	size := humanBytes(f.Size)
	if f.Width > 0 && f.Height > 0 {
		size += fmt.Sprintf(" · %d×%d", f.Width, f.Height)
	}
	nameW := max(4, bodyW-cs.textWidth(size)-cs.textWidth(mark)-6)
	head := "▤ " + st.FileName.Render(cs.truncate(safetext.Line(f.Name), nameW)) + "  " + st.Muted.Render(size)
	if mark != "" {
		head += "  " + mark
	}
	lines = append(lines, "  "+head)

	if img := l.thumbs[f.ID]; img != nil && l.colour && previewable(f) {
		for _, p := range imagePreview(img, l.kitty[f.ID], min(previewCols, bodyW-2)) {
			lines = append(lines, "  "+p)
		}
	}
	for _, s := range fileStateLines(m, bodyW, st, cs, l) {
		lines = append(lines, "  "+s)
	}
	if m.Text != "" {
		for _, w := range cs.wrap(safetext.Text(m.Text), bodyW) {
			lines = append(lines, "  "+st.Body.Render(w))
		}
	}
	if m.Direction == node.Outgoing && m.State == node.Failed {
		reason := safetext.Line(m.Error)
		if reason == "" {
			reason = "not delivered"
		}
		for _, w := range cs.wrap(fmt.Sprintf("✗ %s · ctrl+r retry", reason), bodyW) {
			lines = append(lines, "  "+st.MarkFailed.Render(w))
		}
	}
	return lines
}

// fileStateLines say where a transfer is: a progress bar while it moves
// or is paused, what it waits for, how it ended.
func fileStateLines(m *node.Message, w int, st *Styles, cs cells, l fileLook) []string {
	f := m.File
	in := m.Direction == node.Incoming
	act := func(what string) string { return l.hint + " " + what }
	var out []string
	switch f.State {
	case node.FileOffered:
		if in {
			out = append(out, st.Warning.Render(cs.truncate("offered · "+act("then a to accept"), w)))
		} else {
			out = append(out, st.Muted.Render(cs.truncate("offered · waiting for them to accept", w)))
		}
	case node.FileAccepted, node.FilePaused:
		out = append(out, progressLine(f.Bytes, f.Size, l.rate[f.ID], f.State == node.FilePaused, w, st, cs))
		switch {
		case f.Error != "":
			out = append(out, st.Warning.Render(cs.truncate("waiting: "+safetext.Line(f.Error)+" · "+act("then r to retry"), w)))
		case f.State == node.FilePaused:
			out = append(out, st.Muted.Render(cs.truncate("paused · "+act("then p to resume"), w)))
		}
	case node.FileCompleted:
		if in {
			out = append(out, st.Success.Render(cs.truncate("✓ received · "+act("then o open, s save"), w)))
		} else {
			out = append(out, st.Success.Render(cs.truncate("✓ sent", w)))
		}
	case node.FileFailed:
		why := safetext.Line(f.Error)
		if why == "" {
			why = "failed"
		}
		out = append(out, st.MarkFailed.Render(cs.truncate("✗ "+why, w)))
	case node.FileCancelled:
		why := "cancelled"
		if e := safetext.Line(f.Error); e != "" {
			why += ": " + e
		}
		out = append(out, st.MarkFailed.Render(cs.truncate("✗ "+why, w)))
	}
	return out
}

// progressLine is a bar with the share done, the bytes, the speed and the
// time left, w cells at most.
func progressLine(done, size int64, rate float64, paused bool, w int, st *Styles, cs cells) string {
	frac := 0.0
	if size > 0 {
		frac = min(1, max(0, float64(done)/float64(size)))
	}
	info := fmt.Sprintf(" %3d%%  %s / %s", int(frac*100), humanBytes(done), humanBytes(size))
	switch {
	case paused:
	case rate > 0:
		info += "  " + humanBytes(int64(rate)) + "/s  " + eta(time.Duration(float64(size-done)/rate*float64(time.Second))) + " left"
	case done < size:
		info += "  waiting for the link"
	}
	barW := min(24, max(4, w-cs.textWidth(info)))
	fill := int(frac * float64(barW))
	bar := st.ProgressDone.Render(strings.Repeat("█", fill)) + st.ProgressTodo.Render(strings.Repeat("░", barW-fill))
	return bar + cs.truncate(info, max(0, w-barW))
}

// humanBytes is n in B, KiB, MiB or GiB, with one decimal under 10.
func humanBytes(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	v, unit := float64(n)/1024, "KiB"
	for _, u := range []string{"MiB", "GiB", "TiB"} {
		if v < 1024 {
			break
		}
		v, unit = v/1024, u
	}
	if v < 10 {
		return fmt.Sprintf("%.1f %s", v, unit)
	}
	return fmt.Sprintf("%.0f %s", v, unit)
}

// eta says how long is left, roughly.
func eta(d time.Duration) string {
	switch {
	case d < time.Second:
		return "<1 s"
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()+0.5))
	case d < 100*time.Hour:
		return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
	}
	return "days"
}

// imagePreview draws a file's image in at most cols columns: as the kitty
// placement sent as image id, if there is one and it fits (it was sent
// for the full preview's cells), else in half blocks.
func imagePreview(img image.Image, id uint32, cols int) []string {
	if id != 0 {
		if w, h := previewSize(img.Bounds(), previewCols, previewRows); w <= cols {
			return kittyPlaceholders(id, w, h)
		}
	}
	return halfBlocks(img, cols, previewRows)
}

// halfBlocks draws img in at most cols×rows cells: each cell is an upper
// half block (▀) whose foreground is the upper pixel and whose background
// the lower one, in true colour (Bubble Tea downsamples it for terminals
// with fewer colours).
func halfBlocks(img image.Image, cols, rows int) []string {
	b := img.Bounds()
	if cols < 1 || rows < 1 || b.Dx() < 1 || b.Dy() < 1 {
		return nil
	}
	// Fit the image in cols × 2·rows pixels, keeping its shape.
	w, h := cols, b.Dy()*cols/b.Dx()
	if h > 2*rows {
		w, h = max(1, b.Dx()*2*rows/b.Dy()), 2*rows
	}
	h = max(1, h)
	small := media.Scale(img, max(w, h))
	sb := small.Bounds()
	var out []string
	for y := sb.Min.Y; y < sb.Max.Y; y += 2 {
		var line strings.Builder
		var last [2]color.RGBA
		for x := sb.Min.X; x < sb.Max.X; x++ {
			// An odd last row fills its cell with its one pixel row.
			top, bot := small.RGBAAt(x, y), small.RGBAAt(x, min(y+1, sb.Max.Y-1))
			if x == sb.Min.X || [2]color.RGBA{top, bot} != last {
				// A colour is written only when it changes.
				fmt.Fprintf(&line, "\x1b[38;2;%d;%d;%d;48;2;%d;%d;%dm", top.R, top.G, top.B, bot.R, bot.G, bot.B)
				last = [2]color.RGBA{top, bot}
			}
			line.WriteString("▀")
		}
		line.WriteString("\x1b[m")
		out = append(out, line.String())
	}
	return out
}
