//go:build linux && cgo

package ipcarc

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// u64Tag names the element type of the peers' slice modes in every language.
const u64Tag = "ipcarc.u64.v1"

func init() {
	// peer-sincr NAME K [gate]: Go's counterpart of the peers' sincr.
	childRoles["peer-sincr"] = func(args []string) error {
		k, _ := strconv.Atoi(args[1])
		s, err := OpenSlice[uint64](args[0], WithTypeTag(u64Tag))
		if err != nil {
			return err
		}
		if len(args) > 2 && args[2] == "gate" {
			os.Stdout.WriteString("ready\n")
			bufio.NewReader(os.Stdin).ReadString('\n')
		}
		for i := 0; i < k; i++ {
			if err := s.Update(func(v []uint64) ([]uint64, error) {
				for j := range v {
					v[j]++
				}
				return v, nil
			}); err != nil {
				return err
			}
		}
		if err := s.Close(); err != nil {
			return err
		}
		os.Stdout.WriteString("done\n")
		return nil
	}
}

// Go, C and Rust processes add 1 to every element of one slice at the same
// time, each through its own package: exact per-element totals.
func TestCrossSliceIncrements(t *testing.T) {
	cp, rp := bothPeers(t)
	name := testName(t)
	const elems, each = 12, 3000
	s, err := NewSlice(name, make([]uint64, elems), 32, WithTypeTag(u64Tag))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	k := strconv.Itoa(each)
	var kids []*child
	var gates []io.WriteCloser
	var gate io.WriteCloser
	kids = append(kids, startChildCmd(t, func(cmd *exec.Cmd) {
		var err error
		if gate, err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}, "peer-sincr", name, k, "gate"))
	gates = append(gates, gate)
	for _, p := range []peer{cp, rp} {
		c, g := p.startStdin(t, true, "sincr", name, k, "gate")
		kids = append(kids, c)
		gates = append(gates, g)
	}
	for _, c := range kids {
		c.expect("ready")
	}
	for _, g := range gates {
		io.WriteString(g, "go\n")
	}
	for i := 0; i < each; i++ {
		g, err := s.Lock()
		if err != nil {
			t.Fatal(err)
		}
		for j := range g.Get() {
			g.Get()[j]++
		}
		if err := g.Unlock(); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range kids {
		c.expect("done")
		c.wait()
	}
	v, err := s.Load()
	if err != nil || len(v) != elems {
		t.Fatal(v, err)
	}
	for i, x := range v {
		if want := uint64(len(kids)+1) * each; x != want {
			t.Fatalf("element %d = %d, want %d", i, x, want)
		}
	}
}
