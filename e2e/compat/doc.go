// Package compat holds black-box compatibility tests for mesosd, driven by
// third-party Mesos clients (mesos-go v0.0.11: its httpsched scheduler
// library and the msh command) and by plain net/http checks of the
// scheduler API's HTTP contract.
//
// This is a separate Go module on purpose: mesos-go v0.0.11 and its pinned,
// old dependencies must never reach the root module's go.mod, and the tests
// must talk to mesosd only over HTTP, as any third-party client would. The
// tests never import github.com/mesosd/mesosd.
//
// Running (as root, with containerd and runc installed):
//
//	cd /work/main && go build -o bin/mesosd ./cmd/mesosd
//	cd e2e/compat && MESOSD_BIN=$PWD/../../bin/mesosd go test -count=1 -v ./...
//
// With MESOSD_BIN the tests start one private `mesosd dev` (own work dir,
// free ports) for the whole test binary. Alternatively MESOSD_MASTER=host:port
// points them at a running master that has one active agent. Without either,
// every test is skipped.
package compat
