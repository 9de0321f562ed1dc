//go:build !linux

package main

import "io"

// terminal: where the admin API is unsupported anyway, top never redraws.
func terminal(io.Writer) (isTerm bool, rows int) { return false, 0 }
