package node

import (
	"context"
	"errors"
)

// resetSession asks contact id for a new session. TODO(issue 17): the
// session reset of issue 13 (link) or a minimal flow.
func (n *Node) resetSession(ctx context.Context, id int64) error {
	return errors.New("session reset not implemented yet")
}
