//go:build !unix

package main

import (
	"context"
	"os/exec"
)

// shellCommand runs line with cmd.exe.
func shellCommand(ctx context.Context, line string) *exec.Cmd {
	return exec.CommandContext(ctx, "cmd", "/C", line)
}
