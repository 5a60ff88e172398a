// Command chaos runs chaos experiments: it injects faults into services,
// checks a steady-state hypothesis before, during and after, and writes
// reports. See `chaos --help`.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], newStdio()))
}
