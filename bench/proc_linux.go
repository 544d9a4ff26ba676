package main

import (
	"os"
	"os/exec"
	"syscall"
)

// setProcAttr puts the child in a process group of its own, so that stop can
// end it with whatever it started and a Ctrl-C reaches only the harness,
// which then stops its children in order; and has the kernel kill the child
// when the harness dies, even by SIGKILL, so that no emulator or receiver
// outlives a benchmark.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// signalGroup sends sig to the process group p leads (see setProcAttr).
func signalGroup(p *os.Process, sig syscall.Signal) {
	if err := syscall.Kill(-p.Pid, sig); err != nil {
		_ = p.Signal(sig)
	}
}
