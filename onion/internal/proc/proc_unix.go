//go:build unix

package proc

import (
	"errors"
	"os/exec"
	"syscall"
)

// Alive reports whether a process with this pid exists.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Terminate asks pid to exit (SIGTERM: tor exits promptly, even a relay,
// which would wait ShutdownWaitLength on SIGINT).
func Terminate(pid int) error { return syscall.Kill(pid, syscall.SIGTERM) }

func detach(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
}

// CanKill9 reports whether Kill is an uncatchable SIGKILL (for tests).
func CanKill9() bool { return true }

// Suspend stops pid (SIGSTOP) so that it ignores everything but SIGKILL,
// as a hung tor does; for tests.
func Suspend(pid int) error { return syscall.Kill(pid, syscall.SIGSTOP) }
