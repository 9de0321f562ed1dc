//go:build linux && cgo

package ipcarc

import (
	"encoding/json"
	"expvar"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

func init() {
	// expvar-incr NAME N: attach, say so, make N locked increments, say done.
	childRoles["expvar-incr"] = func(args []string) error {
		n, _ := strconv.Atoi(args[1])
		a, err := Open[Counter](args[0])
		if err != nil {
			return err
		}
		defer a.Close()
		os.Stdout.WriteString("ready\n")
		if err := lockedIncrements(a, n); err != nil {
			return err
		}
		os.Stdout.WriteString("done\n")
		return nil
	}
}

// expvarEntry is the part of a published Stats the test reads back.
type expvarEntry struct {
	Name     string   `json:"name"`
	RefCount int64    `json:"refcount"`
	Counters Counters `json:"counters"`
	Error    string   `json:"error"`
}

// fetchVars GETs /debug/vars from srv and decodes the entry under key.
func fetchVars(t *testing.T, srv *httptest.Server, key string) expvarEntry {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + "/debug/vars")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /debug/vars: %s", resp.Status)
	}
	var vars map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&vars); err != nil {
		t.Fatalf("decoding /debug/vars: %v", err)
	}
	raw, ok := vars[key]
	if !ok {
		t.Fatalf("/debug/vars has no %q", key)
	}
	var e expvarEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("decoding %q: %v\n%s", key, err, raw)
	}
	return e
}

func TestExpvar(t *testing.T) {
	const n = 3000
	name := testName(t)
	a := mustNew(t, name, Counter{})
	key := "ipcarc." + name
	expvar.Publish(key, expvar.Func(a.Expvar()))
	mux := http.NewServeMux()
	mux.Handle("/debug/vars", expvar.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// The child and this process contend on the lock while /debug/vars is read.
	c := startChild(t, "expvar-incr", name, strconv.Itoa(n))
	c.expect("ready")
	base, err := a.Info()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		g, err := a.Lock()
		if err != nil {
			t.Fatal(err)
		}
		g.Get().N++
		if err := g.Unlock(); err != nil {
			t.Fatal(err)
		}
		if i == n/2 {
			mid := fetchVars(t, srv, key)
			after, err := a.Info()
			if err != nil {
				t.Fatal(err)
			}
			if mid.Name != name {
				t.Errorf("mid-run name = %q, want %q", mid.Name, name)
			}
			if got := mid.Counters.Acquisitions; got < base.Counters.Acquisitions+uint64(i+1) || got > after.Counters.Acquisitions {
				t.Errorf("mid-run acquisitions = %d, want between %d and %d",
					got, base.Counters.Acquisitions+uint64(i+1), after.Counters.Acquisitions)
			}
		}
	}
	c.expect("done")
	c.wait()

	// Quiet now: /debug/vars and Stats agree exactly.
	got := fetchVars(t, srv, key)
	st, err := a.Info()
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != name || got.Error != "" {
		t.Errorf("entry name = %q, error = %q; want %q and none", got.Name, got.Error, name)
	}
	if got.Counters != st.Counters {
		t.Errorf("/debug/vars counters = %+v\nStats counters = %+v", got.Counters, st.Counters)
	}
	if got.Counters.Acquisitions < 2*n {
		t.Errorf("acquisitions = %d, want at least the %d made", got.Counters.Acquisitions, 2*n)
	}
	if got.RefCount != 1 {
		t.Errorf("refcount = %d, want 1 (the child has closed)", got.RefCount)
	}
	t.Logf("acquisitions %d, contended %d, slept %d", got.Counters.Acquisitions, got.Counters.Contended, got.Counters.Slept)

	// A closed handle's variable says so instead of failing the whole page.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if got := fetchVars(t, srv, key); got.Name != name || got.Error == "" {
		t.Errorf("after Close: name %q, error %q; want the name and an error", got.Name, got.Error)
	}
}

// Importing the package has no side effects (doc of Expvar: "This package does
// not import expvar: importing ipcarc registers nothing on
// net/http.DefaultServeMux and publishes no variable"): neither expvar nor
// net/http is among its dependencies, in any build.
func TestNoImportSideEffects(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go command to list the package's dependencies:", err, "("+toolInstall("go")+")")
	}
	for _, env := range [][]string{{"CGO_ENABLED=1"}, {"CGO_ENABLED=0"}, {"GOOS=darwin", "CGO_ENABLED=0"}} {
		cmd := exec.Command(gobin, "list", "-deps", ".")
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps (%v): %v", env, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == "expvar" || dep == "net/http" {
				t.Errorf("with %v the package imports %s: importing it would register handlers or variables", env, dep)
			}
		}
	}
}
