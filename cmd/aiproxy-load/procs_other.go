//go:build !linux

package main

import "syscall"

// sysProcAttr puts a child in its own process group. Only Linux can have
// the kernel kill children when their parent dies; elsewhere the load
// tool's own shutdown stops them, and an interrupted run may leave them.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
