package mailbox

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/chive-im/chive/wire"
)

// Buckets are the sizes a stored item is padded to, so that a mailbox (or
// whoever reads its disk) learns only which bucket a message fell in, not
// its length. The largest leaves room for the put's id and slot in one
// frame.
var Buckets = []int{1 << 10, 2 << 10, 4 << 10, 8 << 10, 16 << 10, 32 << 10, wire.MaxMailboxItem}

// ErrBadItem: an item is not a padded Message or Receipt frame.
var ErrBadItem = errors.New("mailbox: bad item")

// Pad returns frame (one whole wire frame) followed by zeros up to the
// smallest bucket that holds it.
func Pad(frame []byte) ([]byte, error) {
	for _, b := range Buckets {
		if len(frame) <= b {
			out := make([]byte, b)
			copy(out, frame)
			return out, nil
		}
	}
	return nil, fmt.Errorf("mailbox: pad: frame of %d bytes: %w", len(frame), ErrBadItem)
}

// Unpad checks that item is a padded frame that may travel through a
// mailbox (a Message or a Receipt, with id) and returns the frame and its
// decoded message. The padding must be a bucket size and all zeros.
func Unpad(item []byte, id wire.ID) ([]byte, wire.Msg, error) {
	if !isBucket(len(item)) {
		return nil, nil, fmt.Errorf("%w: %d bytes is not a bucket size", ErrBadItem, len(item))
	}
	r := bytes.NewReader(item)
	t, body, err := wire.ReadFrame(r)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrBadItem, err)
	}
	n := len(item) - r.Len()
	for _, b := range item[n:] {
		if b != 0 {
			return nil, nil, fmt.Errorf("%w: padding is not zero", ErrBadItem)
		}
	}
	m, err := wire.Unmarshal(t, body)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrBadItem, err)
	}
	var got wire.ID
	switch m := m.(type) {
	case *wire.Message:
		got = m.ID
	case *wire.Receipt:
		got = m.ID
	default:
		return nil, nil, fmt.Errorf("%w: a %s frame", ErrBadItem, t)
	}
	if got != id {
		return nil, nil, fmt.Errorf("%w: the frame's id is not the item's", ErrBadItem)
	}
	return item[:n], m, nil
}

func isBucket(n int) bool {
	for _, b := range Buckets {
		if n == b {
			return true
		}
	}
	return false
}
