// pause holds a pod's namespaces for the kubelet, as the pause image does: it waits for SIGINT or
// SIGTERM and reaps the zombies of processes that share its PID namespace. Built static into a
// FROM-scratch image by the sandbox (no registry answers on the machines this project tests on).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for received := range signals {
		if received != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
