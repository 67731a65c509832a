//go:build windows

package proc

import (
	"errors"
	"os/exec"
	"syscall"
)

const processQueryLimitedInformation = 0x1000

// Alive reports whether a process with this pid exists and has not exited.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	h, err := syscall.OpenProcess(processQueryLimitedInformation, false, uint32(pid))
	if err != nil {
		return false
	}
	defer syscall.CloseHandle(h)
	var code uint32
	if err := syscall.GetExitCodeProcess(h, &code); err != nil {
		return false
	}
	const stillActive = 259
	return code == stillActive
}

// Terminate ends pid; Windows has no SIGTERM, so this is Kill.
func Terminate(pid int) error { return Kill(pid) }

func detach(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.CreationFlags |= syscall.CREATE_NEW_PROCESS_GROUP
}

// CanKill9 reports whether Kill is an uncatchable SIGKILL (for tests).
func CanKill9() bool { return false }

// Suspend is not supported on Windows.
func Suspend(pid int) error { return errors.New("proc: suspend not supported on windows") }
