package node

import (
	"context"
	"errors"
)

// errInterim marks an API method whose implementation is on its way: it
// lets the UI build on the interface first.
var errInterim = errors.New("not implemented yet")

// SetDraft implements API.
func (n *Node) SetDraft(ctx context.Context, ref, text string) error {
	return errInterim
}

// SetName implements API.
func (n *Node) SetName(ctx context.Context, name string) error {
	return errInterim
}

// UnblockContact implements API.
func (n *Node) UnblockContact(ctx context.Context, ref string) error {
	return errInterim
}
