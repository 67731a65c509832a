// Package proc holds the few process operations that differ between
// operating systems: liveness checks, termination and detaching children.
package proc

import (
	"os"
	"os/exec"
	"time"
)

// WaitExit polls until pid is gone or the timeout passes, and reports
// whether it is gone. It is for processes that are not our children (a
// detached testnet); for children use exec.Cmd.Wait.
func WaitExit(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if !Alive(pid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill ends pid at once.
func Kill(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

// Detach makes cmd's process independent of our terminal: a Ctrl-C meant for
// chive must not reach tor, which we stop ourselves in order.
func Detach(cmd *exec.Cmd) { detach(cmd) }
