package main

import (
	"os/exec"
	"syscall"
)

// dieWithTest makes the child get SIGKILL when the test binary dies (a
// test timeout panics without running cleanups).
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
