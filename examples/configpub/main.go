// Command configpub publishes a JSON configuration to other processes
// through an ipcarc.Slice[byte]: the publisher Stores each new document (its
// length is the document's), and the readers (this same program, with
// -reader) Wait for a new version and Load it.
//
//	go run ./examples/configpub -readers 3 -versions 5
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/ipcarc/ipcarc"
)

// Config is what the publisher sends.
type Config struct {
	Version  int      `json:"version"`
	LogLevel string   `json:"log_level"`
	Backends []string `json:"backends"`
	Final    bool     `json:"final"`
}

const maxConfig = 64 << 10 // the slice's capacity: the largest document

func main() {
	readers := flag.Int("readers", 3, "number of reader processes")
	versions := flag.Int("versions", 5, "configurations to publish")
	name := flag.String("name", fmt.Sprintf("configpub-%d", os.Getpid()), "segment name")
	reader := flag.Int("reader", -1, "internal: run as reader number N")
	flag.Parse()
	log.SetFlags(0)
	if *reader >= 0 {
		if err := read(*name, *reader); err != nil {
			log.Fatalf("reader %d: %v", *reader, err)
		}
		return
	}
	if err := publish(*name, *readers, *versions); err != nil {
		log.Fatal(err)
	}
}

func publish(name string, readers, versions int) error {
	cfg, err := ipcarc.NewSlice[byte](name, nil, maxConfig)
	if err != nil {
		return err
	}
	defer cfg.Close()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var cmds []*exec.Cmd
	for i := 0; i < readers; i++ {
		cmd := exec.Command(exe, "-name", name, "-reader", strconv.Itoa(i))
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			return err
		}
		cmds = append(cmds, cmd)
	}
	// Readers attach in their own time: wait until all of them hold a handle,
	// so that each sees the final document (a reader that attaches late
	// still Loads the latest one).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if n, _ := cfg.RefCount(); n == readers+1 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("readers did not attach")
		}
	}
	for v := 1; v <= versions; v++ {
		doc, _ := json.Marshal(Config{Version: v, LogLevel: []string{"info", "debug"}[v%2],
			Backends: []string{"10.0.0.1:80", fmt.Sprintf("10.0.0.%d:80", v+1)}, Final: v == versions})
		if err := cfg.Store(doc); err != nil {
			return err
		}
		fmt.Printf("published version %d (%d bytes)\n", v, len(doc))
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			return fmt.Errorf("a reader failed: %w", err)
		}
	}
	return nil
}

func read(name string, me int) error {
	cfg, err := ipcarc.OpenSlice[byte](name)
	if err != nil {
		return err
	}
	defer cfg.Close()
	var since ipcarc.Version
	buf := make([]byte, 0, maxConfig)
	for {
		if cfg.Len() == 0 { // nothing published yet
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			v, err := cfg.Wait(ctx, since)
			cancel()
			if err != nil {
				return err
			}
			since = v
			continue
		}
		v, _ := cfg.Version()
		if buf, err = cfg.AppendTo(buf[:0]); err != nil {
			return err
		}
		var c Config
		if err := json.Unmarshal(buf, &c); err != nil {
			return fmt.Errorf("a torn or bad document %q: %w", buf, err)
		}
		fmt.Printf("reader %d: config version %d, log level %s, %d backends\n", me, c.Version, c.LogLevel, len(c.Backends))
		if c.Final {
			return nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		since, err = cfg.Wait(ctx, v)
		cancel()
		if err != nil {
			return err
		}
	}
}
