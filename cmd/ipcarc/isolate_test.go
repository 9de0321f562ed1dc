//go:build linux && cgo

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Ensure that the hidden owner-side child takes its four words as they
// come, a NAME starting with "-" too (no flag parsing), drops to the given
// owner and prints its JSON result with the error's code; and that root's
// `rm -- -NAME` of another user's segment goes through it. Needs root.
func TestAsOwnerChild(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the child drops from root to uid 65534")
	}
	exe := binary(t)
	name := "-" + testName(t)
	out, err := exec.Command(exe, asOwnerCmd, opRm, "65534", "65534", name).Output()
	if err != nil {
		t.Fatalf("%s %s rm 65534 65534 %s: %v", exe, asOwnerCmd, name, err)
	}
	var res ownerResult
	if err := json.Unmarshal(out, &res); err != nil || !res.NotExist || res.Code != exitRefused || res.Kind != "not_found" ||
		!strings.Contains(res.Error, name) {
		t.Fatalf("the child's result for an absent %s: %s (%v); want not_exist, code 3, kind not_found", name, out, err)
	}

	keptSegment(t, name)
	if err := os.Chown(filepath.Join("/dev/shm", name), 65534, 65534); err != nil {
		t.Fatal(err)
	}
	c := exec.Command(exe, "rm", "--json", "--", name)
	out, err = c.Output()
	var rm []rmJSON
	if err != nil || json.Unmarshal(out, &rm) != nil || len(rm) != 1 || !rm[0].Removed || shmExists(name) {
		t.Fatalf("root's rm --json -- %s of uid 65534's segment: %s, %v; left %v", name, out, err, shmExists(name))
	}
}
