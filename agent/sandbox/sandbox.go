// Package sandbox lays out task sandboxes under the agent's work directory and
// serves them over HTTP (Mesos' /files/browse, /files/read, /files/download).
//
// Layout (as Mesos, so operators and tools find sandboxes where they expect):
//
//	<work_dir>/slaves/<agent_id>/frameworks/<framework_id>/executors/<executor_id>/runs/<container_id>
//
// Invariants: every ID is turned into one safe path component by Escape (no
// separators, no "." or "..", injective), and the file endpoints never serve
// anything outside <work_dir>/slaves, whatever the request path or symlinks
// inside a sandbox say.
package sandbox

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Escape maps an ID to a single safe path component. Bytes outside
// [A-Za-z0-9._-] become %XX, and the IDs "." and ".." are escaped entirely,
// so distinct IDs never share a directory.
func Escape(id string) string {
	if id == "" {
		return "%00"
	}
	if id == "." || id == ".." {
		return strings.Repeat("%2E", len(id))
	}
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// Root is the directory that holds every sandbox of an agent work dir.
func Root(workDir string) string { return filepath.Join(workDir, "slaves") }

// Dir returns the sandbox directory of one container run.
func Dir(workDir, agentID, frameworkID, executorID, containerID string) string {
	return filepath.Join(Root(workDir), Escape(agentID),
		"frameworks", Escape(frameworkID),
		"executors", Escape(executorID),
		"runs", Escape(containerID))
}
