package main

import "syscall"

// sysProcAttr puts a child in its own process group and has the kernel
// kill it when the load tool dies, so no fake provider or gateway outlives
// an interrupted run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
