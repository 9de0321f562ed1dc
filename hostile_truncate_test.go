//go:build linux && cgo

package ipcarc

// Hostile peers (see hostile_harness_test.go), 4: truncation under gc and ls.

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ---- 4: truncation under gc and ls ---------------------------------------------

func init() {
	// hostile-truncator PATH IMAGE: until stdin ends, (re)creates PATH,
	// writes IMAGE into it, truncates it to 0 and writes it again, in a
	// tight loop (cutting it at the header now and then).
	childRoles["hostile-truncator"] = func(args []string) error {
		img, err := os.ReadFile(args[1])
		if err != nil {
			return err
		}
		var stop atomic.Bool
		go func() {
			io.Copy(io.Discard, os.Stdin)
			stop.Store(true)
		}()
		rounds := 0
		for !stop.Load() {
			fd, err := unix.Open(args[0], unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o644)
			if err != nil {
				return err
			}
			for k := 0; k < 64 && !stop.Load(); k++ {
				unix.Ftruncate(fd, 0)
				unix.Pwrite(fd, img, 0)
				if k%4 == 3 {
					unix.Ftruncate(fd, headerSize) // the table gone under a mapping
					unix.Pwrite(fd, img[headerSize:], headerSize)
				}
				rounds++
			}
			unix.Close(fd)
			if rounds == 64 {
				fmt.Println("looping")
			}
		}
		fmt.Printf("rounds %d\n", rounds)
		return nil
	}
}

// Ensure that while another user's process truncates and rewrites its own
// segment file in a tight loop, `ipcarc gc` (which collects another user's
// segment in a child process) and `ipcarc ls` (which reads in Go behind a
// fault guard) always exit normally with a documented code: never a signal
// death. Bounded to 1,000 runs each or about 10 s.
func TestHostileTruncateLoop(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a child as uid 65534; running as uid", os.Getuid())
	}
	exe := ipcarcCommand(t)
	img := segmentImage(t)
	// A dead holder with two handles, so that gc has a reap to do.
	hd := &holderTable((*header)(unsafe.Pointer(&img[0])))[0]
	hd.State, hd.Handles, hd.Live = slotUsed, 2, liveOwnerDied
	(*header)(unsafe.Pointer(&img[0])).RefCount = 2

	dir := t.TempDir()
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	imgPath := filepath.Join(dir, "image")
	if err := os.WriteFile(imgPath, img, 0o644); err != nil {
		t.Fatal(err)
	}
	name := testName(t) + "-trunc"
	path := filepath.Join(shmDir, name)
	t.Cleanup(func() { os.Remove(path) })
	self := worldExecutableCopy(t)
	var stdin io.WriteCloser
	c := startChildCmd(t, func(cmd *exec.Cmd) {
		cmd.Path, cmd.Args[0] = self, self
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		noExitSleep(cmd)
		var err error
		if stdin, err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}, "hostile-truncator", path, imgPath)
	t.Cleanup(func() { stdin.Close() })
	c.expect("looping")
	if st, err := os.Stat(path); err != nil {
		t.Fatal(err)
	} else if uid := st.Sys().(*syscall.Stat_t).Uid; uid != 65534 {
		t.Fatalf("the vandal's file belongs to uid %d, want 65534", uid)
	}

	const want = 1000
	budget := 10 * time.Second
	if testing.Short() {
		budget = 2 * time.Second // -short: a slice; make test runs the full budget
	}
	deadline := time.Now().Add(budget)
	var mu sync.Mutex
	fails := map[string][]string{} // first line of the failure -> every failure like it
	codes := map[string]map[int]int{"gc": {}, "ls": {}}
	loop := func(cmd string, args func(i int) []string) {
		for i := 0; i < want && time.Now().Before(deadline); i++ {
			msg, code := hostileCLI(exe, args(i)...)
			mu.Lock()
			codes[cmd][code]++
			if msg != "" {
				k := cmd + ": " + hostileSignature(msg)
				fails[k] = append(fails[k], msg)
			}
			mu.Unlock()
		}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		loop("gc", func(i int) []string {
			if i%2 == 0 {
				return []string{"gc", name + "*"} // through List, then gc
			}
			return []string{"gc", name}
		})
	}()
	go func() {
		defer wg.Done()
		loop("ls", func(i int) []string {
			if i%2 == 0 {
				return []string{"ls", name + "*"}
			}
			return []string{"ls", "--json", name + "*"}
		})
	}()
	wg.Wait()
	stdin.Close()
	rounds := c.expect("rounds ")
	c.wait()
	os.Remove(path)
	runs := func(m map[int]int) (n int) {
		for _, v := range m {
			n += v
		}
		return n
	}
	t.Logf("gc ran %d times (exit codes %v), ls %d times (exit codes %v); the vandal made %s truncate-and-rewrite rounds",
		runs(codes["gc"]), codes["gc"], runs(codes["ls"]), codes["ls"], strings.TrimPrefix(rounds, "rounds "))
	for k, f := range fails {
		t.Errorf("%d runs failed like this (%s); the first:\n%s", len(f), k, f[0])
	}
	if shmExists(name) {
		t.Errorf("the vandal's file %s is left", name)
	}
}
