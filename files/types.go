package files

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/chive-im/chive/storage"
	"github.com/chive-im/chive/wire"
)

// State is where a transfer is. The values are part of the CLI and
// JSON-RPC contract.
type State string

const (
	Offered   State = "offered"   // in: waiting for the user to accept; out: waiting for the peer to ask for chunks
	Accepted  State = "accepted"  // chunks are moving (or will, when the link is up)
	Paused    State = "paused"    // paused by the user on this side
	Completed State = "completed" // in: stored and the hash matches; out: the peer confirmed it
	Failed    State = "failed"    // refused, corrupt or unavailable; see Error
	Cancelled State = "cancelled" // by either side
)

// Ended reports whether the transfer is over.
func (s State) Ended() bool { return s == Completed || s == Failed || s == Cancelled }

// Errors callers test with errors.Is.
var (
	ErrNotFound   = errors.New("no such file")
	ErrTooLarge   = errors.New("file too large")
	ErrQuota      = errors.New("over the quota for this contact")
	ErrState      = errors.New("not possible in this state")
	ErrNotReady   = errors.New("file not complete")
	ErrNoSpace    = errors.New("no space left on the device")
	ErrNotRegular = errors.New("not a regular file")
	ErrExists     = errors.New("file exists")
	ErrClosed     = errors.New("files: closed")
)

// Policy is what a user allows. Zero fields mean the defaults.
type Policy struct {
	// MaxSize is the largest file sent or accepted (default 1 GiB); a
	// larger offer is refused at once.
	MaxSize int64
	// AutoDownload: images and voice notes up to this size are fetched
	// without asking (default 10 MiB); negative: never.
	AutoDownload int64
	// Quota caps the bytes of files accepted from one contact and not
	// deleted (default 4 GiB); an offer beyond it is refused.
	Quota int64
}

// Defaults of Policy.
const (
	DefaultMaxSize      = 1 << 30
	DefaultAutoDownload = 10 << 20
	DefaultQuota        = 4 << 30
)

// WithDefaults fills in zero fields.
func (p Policy) WithDefaults() Policy {
	if p.MaxSize <= 0 {
		p.MaxSize = DefaultMaxSize
	}
	p.MaxSize = min(p.MaxSize, wire.MaxFileSize)
	if p.AutoDownload == 0 {
		p.AutoDownload = DefaultAutoDownload
	}
	if p.Quota <= 0 {
		p.Quota = DefaultQuota
	}
	return p
}

// Transfer is a snapshot of one file transfer.
type Transfer struct {
	ID         wire.ID
	ContactID  int64
	Direction  storage.Direction
	MessageSeq int64
	Name       string // sanitized: safe as a path element and on a terminal
	MediaType  string // sniffed from the content (in: once complete; before, the sender's claim)
	Size       int64
	SHA256     []byte
	State      State
	Error      string
	Bytes      int64 // in: stored; out: sent at least once
	SentBytes  int64 // out: written to links, resends included
	RecvBytes  int64 // in: received, duplicates included
	DupBytes   int64 // in: received again after being stored
	Thumbnail  bool
	Width      int // of an image, when known
	Height     int
	Created    time.Time
	Updated    time.Time
	Done       time.Time
}

// Event is a change the node publishes: a new state (never dropped), or
// progress (Progress set; may be coalesced).
type Event struct {
	Transfer Transfer
	Progress bool
	Rate     float64 // bytes per second over the last interval (progress only)
}

// Options configure a Manager. Zero fields mean defaults.
type Options struct {
	// Window is how many chunks a receiver keeps asked for and not yet
	// received per transfer (default 32: ~2 MiB in flight). It bounds
	// memory and how long a chat frame may wait behind chunks.
	Window int
	// Checkpoint is how often progress is made durable (default 1s).
	Checkpoint time.Duration
	// Retry is how long a transfer stalled by a disk error waits before
	// trying again (default 10s).
	Retry time.Duration
	// ProgressEvery is the least time between progress events of one
	// transfer (default 250ms).
	ProgressEvery time.Duration
	// Reserve is the free space chunks never take (default 16 MiB), so a
	// file filling the disk leaves room for messages and the database;
	// negative: none.
	Reserve int64

	// Event receives state changes and progress. Called with the
	// manager's lock held: it must not call back into the Manager.
	Event func(Event)
	// Poke says the manager has requests to send to the contact: the node
	// calls Requests with the contact's current link, if any.
	Poke func(contactID int64)
	// End ends a transfer the manager cannot go on with (an incoming one
	// verified or corrupt, an outgoing one whose data is unreadable):
	// the node calls Finish and tells the peer. Called in a goroutine.
	End    func(id wire.ID, state State, reason wire.EndReason, errText string)
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Window <= 0 {
		o.Window = 32
	}
	if o.Checkpoint <= 0 {
		o.Checkpoint = time.Second
	}
	if o.Retry <= 0 {
		o.Retry = 10 * time.Second
	}
	if o.Reserve == 0 {
		o.Reserve = 16 << 20
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 250 * time.Millisecond
	}
	if o.Event == nil {
		o.Event = func(Event) {}
	}
	if o.Poke == nil {
		o.Poke = func(int64) {}
	}
	if o.End == nil {
		o.End = func(wire.ID, State, wire.EndReason, string) {}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// info is the sealed info column of a file row.
type info struct {
	Name      string `json:"name"`
	MediaType string `json:"type"`
	Claimed   string `json:"claimed,omitempty"` // in: the sender's media type
	SHA256    []byte `json:"sha256"`
	Key       []byte `json:"key"`
	Width     int    `json:"w,omitempty"`
	Height    int    `json:"h,omitempty"`
	Thumb     bool   `json:"thumb,omitempty"`
	Verified  bool   `json:"verified,omitempty"` // in: the whole file matched its hash
}

func (i info) marshal() []byte {
	b, err := json.Marshal(i)
	if err != nil {
		panic(err) // plain fields only
	}
	return b
}

func parseInfo(b []byte) (info, error) {
	var i info
	if err := json.Unmarshal(b, &i); err != nil {
		return info{}, fmt.Errorf("files: file info: %w", err)
	}
	if len(i.Key) != 32 || len(i.SHA256) != 32 {
		return info{}, errors.New("files: file info: bad key or hash")
	}
	return i, nil
}

// MetaFile marks a message row that carries a file (storage.Message.Meta).
var MetaFile = []byte("file")

// IsFileMeta reports whether a message's Meta says it carries a file.
func IsFileMeta(meta []byte) bool { return string(meta) == string(MetaFile) }
