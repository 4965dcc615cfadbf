package sandbox

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestEscape(t *testing.T) {
	seen := map[string]string{}
	for _, id := range []string{"", ".", "..", "a/b", "a_b", "a%2Fb", "../../etc", "ok-1.2_x", "sp ace", "ü"} {
		e := Escape(id)
		if strings.ContainsAny(e, "/\x00") || e == "." || e == ".." || e == "" {
			t.Errorf("Escape(%q) = %q is not a safe path component", id, e)
		}
		if prev, dup := seen[e]; dup {
			t.Errorf("Escape(%q) = Escape(%q) = %q", id, prev, e)
		}
		seen[e] = id
	}
	if got := Escape("ok-1.2_x"); got != "ok-1.2_x" {
		t.Errorf("safe IDs must stay readable, got %q", got)
	}
	d := Dir("/w", "S1", "../fw", "t", "c")
	if !strings.HasPrefix(d, filepath.Join("/w", "slaves")+"/") || filepath.Clean(d) != d || strings.Count(d, "/") != 9 {
		t.Errorf("Dir escaped the root: %q", d)
	}
}
