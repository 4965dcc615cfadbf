package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// MaxReadLength caps one /files/read answer, so a client cannot make the
// agent buffer a whole large log in memory; clients page with offset.
const MaxReadLength = 1 << 20

// Files serves Mesos' /files endpoints for the sandboxes under one root.
type Files struct {
	root string // absolute, symlinks resolved
}

// NewFiles returns a Files restricted to root (normally Root(workDir)).
func NewFiles(root string) (*Files, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("sandbox root %q: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("create sandbox root %q: %w", abs, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("resolve sandbox root %q: %w", abs, err)
	}
	return &Files{root: real}, nil
}

// Register mounts the endpoints on mux.
func (f *Files) Register(mux *http.ServeMux) {
	mux.HandleFunc("/files/browse", f.browse)
	mux.HandleFunc("/files/read", f.read)
	mux.HandleFunc("/files/download", f.download)
}

type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

// resolve maps the request's path parameter to a real path inside the root.
func (f *Files) resolve(r *http.Request) (string, error) {
	p := r.URL.Query().Get("path")
	if p == "" {
		return "", &httpError{http.StatusBadRequest, "Missing 'path' query parameter"}
	}
	for _, el := range strings.Split(filepath.ToSlash(p), "/") {
		if el == ".." {
			return "", &httpError{http.StatusForbidden, fmt.Sprintf("Path %q must not contain '..'", p)}
		}
	}
	if !filepath.IsAbs(p) {
		// Relative paths are relative to the sandbox root.
		p = filepath.Join(f.root, p)
	}
	p = filepath.Clean(p)
	real, err := filepath.EvalSymlinks(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", &httpError{http.StatusNotFound, fmt.Sprintf("No such file or directory: %q", r.URL.Query().Get("path"))}
	}
	if err != nil {
		return "", &httpError{http.StatusNotFound, fmt.Sprintf("Cannot resolve %q: %v", r.URL.Query().Get("path"), err)}
	}
	if real != f.root && !strings.HasPrefix(real, f.root+string(filepath.Separator)) {
		return "", &httpError{http.StatusForbidden, fmt.Sprintf("Path %q is outside the agent's sandboxes", r.URL.Query().Get("path"))}
	}
	return real, nil
}

func writeErr(w http.ResponseWriter, err error) {
	var he *httpError
	if errors.As(err, &he) {
		http.Error(w, he.msg, he.code)
		return
	}
	http.Error(w, err.Error(), http.StatusInternalServerError)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// FileInfo is Mesos' JSON model of a directory entry.
type FileInfo struct {
	Path  string  `json:"path"`
	Nlink uint64  `json:"nlink"`
	Size  int64   `json:"size"`
	Mtime float64 `json:"mtime"`
	Mode  string  `json:"mode"`
	UID   string  `json:"uid"`
	GID   string  `json:"gid"`
}

func fileInfo(path string, fi os.FileInfo) FileInfo {
	out := FileInfo{
		Path:  path,
		Size:  fi.Size(),
		Mtime: float64(fi.ModTime().Unix()),
		Mode:  fi.Mode().String(),
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		out.Nlink = uint64(st.Nlink)
		out.UID = strconv.FormatUint(uint64(st.Uid), 10)
		out.GID = strconv.FormatUint(uint64(st.Gid), 10)
		if u, err := user.LookupId(out.UID); err == nil {
			out.UID = u.Username
		}
		if g, err := user.LookupGroupId(out.GID); err == nil {
			out.GID = g.Name
		}
	}
	return out
}

func (f *Files) browse(w http.ResponseWriter, r *http.Request) {
	p, err := f.resolve(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	fi, err := os.Stat(p)
	if err != nil {
		writeErr(w, err)
		return
	}
	if !fi.IsDir() {
		writeJSON(w, []FileInfo{fileInfo(p, fi)})
		return
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		writeErr(w, fmt.Errorf("list %q: %w", p, err))
		return
	}
	out := make([]FileInfo, 0, len(entries))
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, fileInfo(filepath.Join(p, e.Name()), info))
	}
	writeJSON(w, out)
}

func (f *Files) read(w http.ResponseWriter, r *http.Request) {
	p, err := f.resolve(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	q := r.URL.Query()
	offset := int64(-1)
	if s := q.Get("offset"); s != "" {
		if offset, err = strconv.ParseInt(s, 10, 64); err != nil || offset < -1 {
			http.Error(w, fmt.Sprintf("Failed to parse offset %q: must be an integer >= -1", s), http.StatusBadRequest)
			return
		}
	}
	length := int64(MaxReadLength)
	if s := q.Get("length"); s != "" {
		if length, err = strconv.ParseInt(s, 10, 64); err != nil || length < -1 {
			http.Error(w, fmt.Sprintf("Failed to parse length %q: must be an integer >= -1", s), http.StatusBadRequest)
			return
		}
		if length == -1 || length > MaxReadLength {
			length = MaxReadLength
		}
	}
	file, err := os.Open(p)
	if err != nil {
		writeErr(w, &httpError{http.StatusNotFound, fmt.Sprintf("Cannot open %q: %v", q.Get("path"), err)})
		return
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		writeErr(w, err)
		return
	}
	if fi.IsDir() {
		http.Error(w, fmt.Sprintf("Cannot read %q: it is a directory", q.Get("path")), http.StatusBadRequest)
		return
	}
	size := fi.Size()
	// Mesos: offset -1 (or no offset) answers the size without data, which
	// is how log tailers find the end of a file.
	if offset == -1 {
		writeJSON(w, map[string]any{"data": "", "offset": size})
		return
	}
	if offset > size {
		writeJSON(w, map[string]any{"data": "", "offset": offset})
		return
	}
	buf := make([]byte, min(length, size-offset))
	n, err := file.ReadAt(buf, offset)
	if err != nil && !errors.Is(err, io.EOF) {
		writeErr(w, fmt.Errorf("read %q: %w", p, err))
		return
	}
	writeJSON(w, map[string]any{"data": string(buf[:n]), "offset": offset})
}

func (f *Files) download(w http.ResponseWriter, r *http.Request) {
	p, err := f.resolve(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	file, err := os.Open(p)
	if err != nil {
		writeErr(w, &httpError{http.StatusNotFound, fmt.Sprintf("Cannot open %q: %v", r.URL.Query().Get("path"), err)})
		return
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		writeErr(w, err)
		return
	}
	if fi.IsDir() {
		http.Error(w, fmt.Sprintf("Cannot download %q: it is a directory", r.URL.Query().Get("path")), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", filepath.Base(p)))
	http.ServeContent(w, r, filepath.Base(p), fi.ModTime(), file)
}
