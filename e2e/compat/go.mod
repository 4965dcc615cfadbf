// Black-box compatibility tests of mesosd with third-party clients. A module
// of its own so that mesos-go v0.0.11 and its old dependencies never enter the
// root go.mod. The versions below are the pins of mesos-api.md §5.1: without
// them the tools (notably example-scheduler, which needs prometheus
// client_golang v0.9.4) do not build with a current Go. The proxy refuses
// version listing: change a version only with `go get mod@exact-version`.
module github.com/mesosd/mesosd/e2e/compat

go 1.26

require github.com/mesos/mesos-go v0.0.11

require (
	github.com/beorn7/perks v1.0.0 // indirect
	github.com/gogo/protobuf v1.3.2 // indirect
	github.com/golang/protobuf v1.3.1 // indirect
	github.com/google/uuid v1.0.0 // indirect
	github.com/matttproud/golang_protobuf_extensions v1.0.1 // indirect
	github.com/pborman/uuid v1.2.1 // indirect
	github.com/pquerna/ffjson v0.0.0-20190930134022-aa0246cd15f7 // indirect
	github.com/prometheus/client_golang v0.9.4 // indirect
	github.com/prometheus/client_model v0.0.0-20190129233127-fd36f4220a90 // indirect
	github.com/prometheus/common v0.4.1 // indirect
	github.com/prometheus/procfs v0.0.2 // indirect
)

tool (
	github.com/mesos/mesos-go/api/v1/cmd/example-executor
	github.com/mesos/mesos-go/api/v1/cmd/example-scheduler
	github.com/mesos/mesos-go/api/v1/cmd/msh
	github.com/mesos/mesos-go/api/v1/cmd/mwatch
)
