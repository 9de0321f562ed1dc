package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/ipcarc/ipcarc"
	"golang.org/x/sys/unix"
)

// gc changes a segment through the C layer, which maps the file: if another
// user truncates their file under that mapping, the next access raises
// SIGBUS, which no Go code can catch inside C. So a segment owned by another
// user is collected by a child process (this program, re-executed with the
// hidden subcommand below): a fault kills the child, and gc reports the
// segment as changed under it and goes on. Segments of our own user are
// collected in this process.

const gcOneCmd = "__gc-one" // hidden: collect one segment, print the result as JSON

type gcOneResult struct {
	Result ipcarc.GCResult `json:"result"`
	Error  string          `json:"error,omitempty"`
	Code   int             `json:"code"`
}

// codeErr is an error that carries the exit code its child process chose.
type codeErr struct {
	msg  string
	code int
}

func (e *codeErr) Error() string { return e.msg }

var errChanged = errors.New("the file changed under gc (truncated by its owner?); left alone")

// gcName collects one named segment, isolated in a child process when the
// file belongs to another user.
func gcName(name string, dryRun bool) (ipcarc.GCResult, error) {
	if dryRun || ownedByMe(name) {
		return ipcarc.GCName(name, dryRunOpt(dryRun)...)
	}
	exe, err := os.Executable()
	if err != nil {
		return ipcarc.GCName(name, dryRunOpt(dryRun)...)
	}
	var out bytes.Buffer
	cmd := exec.Command(exe, gcOneCmd, name)
	cmd.Stdout = &out
	cmd.Stderr = io.Discard
	runErr := cmd.Run()
	var res gcOneResult
	if jerr := json.Unmarshal(out.Bytes(), &res); jerr != nil {
		var ee *exec.ExitError
		if errors.As(runErr, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				err := fmt.Errorf("ipcarc: gc %q: %w (the collecting process died of %v)", name, errChanged, ws.Signal())
				return ipcarc.GCResult{Name: name, Err: err}, err
			}
		}
		err := fmt.Errorf("ipcarc: gc %q: collecting process failed: %v", name, runErr)
		return ipcarc.GCResult{Name: name, Err: err}, err
	}
	if res.Error != "" {
		res.Result.Err = &codeErr{msg: res.Error, code: res.Code}
		return res.Result, res.Result.Err
	}
	return res.Result, nil
}

// runGCOne is the child's side.
func runGCOne(args []string, stdout io.Writer) int {
	if len(args) != 1 {
		return exitUsage
	}
	r, err := ipcarc.GCName(args[0])
	res := gcOneResult{Result: r}
	if err != nil {
		res.Error, res.Code = err.Error(), exitCode(err)
	}
	json.NewEncoder(stdout).Encode(res)
	return exitOK
}

// mayWrite is ipcarc.GC's test: may this process open the file for writing?
func mayWrite(name string) bool {
	return unix.Faccessat(unix.AT_FDCWD, filepath.Join("/dev/shm", name), unix.W_OK, unix.AT_EACCESS) == nil
}

func ownedByMe(name string) bool {
	st, err := os.Stat(filepath.Join("/dev/shm", name))
	if err != nil {
		return true // let GCName say what is wrong
	}
	s, ok := st.Sys().(*syscall.Stat_t)
	return !ok || int(s.Uid) == os.Geteuid()
}

func dryRunOpt(dry bool) []ipcarc.AdminOption {
	if dry {
		return []ipcarc.AdminOption{ipcarc.DryRun()}
	}
	return nil
}
