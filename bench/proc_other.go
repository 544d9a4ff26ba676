//go:build !linux

package main

import (
	"os"
	"os/exec"
	"syscall"
)

// setProcAttr does nothing where the kernel has no parent-death signal; the
// harness still stops its children on every exit it sees.
func setProcAttr(*exec.Cmd) {}

// signalGroup signals p alone.
func signalGroup(p *os.Process, sig syscall.Signal) { _ = p.Signal(sig) }
