// Command benchratio reads `go test -bench` output for the comparison
// benchmarks and prints, per case and -cpu value, the median ns/op and
// allocs/op of each library, the peers' ratio to package resilience, and
// whether the targets hold.
//
//	go test -bench . -benchmem -count 5 -cpu 1,2 | go run ./cmd/benchratio
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// line matches "BenchmarkCase/lib-2   123   45.6 ns/op   0 B/op   0 allocs/op".
var line = regexp.MustCompile(`^Benchmark(\w+)/(\w+?)(?:-(\d+))?\s+\d+\s+([\d.]+) ns/op(?:\s+\d+ B/op\s+(\d+) allocs/op)?`)

type key struct {
	bench, lib string
	cpu        int
}

type samples struct{ ns, allocs []float64 }

// limits are the absolute targets in ns/op for package resilience.
var limits = map[string]float64{
	"BreakerClosed":              40,
	"BreakerOpen":                15,
	"Retry":                      25,
	"RetryBreaker":               60,
	"RetryBreakerTimeoutEarlier": 80,
}

// timeoutFactor bounds RetryBreakerTimeout relative to a bare
// context.WithTimeout.
const timeoutFactor = 1.25

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchratio:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	data := map[key]*samples{}
	var benches []string
	cpus := map[int]bool{}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		m := line.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		cpu := 1
		if m[3] != "" {
			cpu, _ = strconv.Atoi(m[3])
		}
		k := key{m[1], m[2], cpu}
		if data[k] == nil {
			data[k] = &samples{}
			if !slices.Contains(benches, m[1]) {
				benches = append(benches, m[1])
			}
		}
		ns, _ := strconv.ParseFloat(m[4], 64)
		data[k].ns = append(data[k].ns, ns)
		if m[5] != "" {
			a, _ := strconv.ParseFloat(m[5], 64)
			data[k].allocs = append(data[k].allocs, a)
		}
		cpus[cpu] = true
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read benchmark output: %w", err)
	}
	if len(data) == 0 {
		return fmt.Errorf("no benchmark lines in the input")
	}
	var cpuList []int
	for c := range cpus {
		cpuList = append(cpuList, c)
	}
	sort.Ints(cpuList)

	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "case\tcpu\tchaos ns/op\tallocs\tgobreaker ns/op\tallocs\tratio\tfailsafe ns/op\tallocs\tratio\ttarget\tmet\t")
	failed := 0
	for _, b := range benches {
		for _, cpu := range cpuList {
			own := data[key{b, "chaos", cpu}]
			if own == nil {
				continue
			}
			ns, allocs := median(own.ns), median(own.allocs)
			row := []string{b, strconv.Itoa(cpu), num(ns), count(allocs)}
			for _, peer := range []string{"gobreaker", "failsafe"} {
				if s := data[key{b, peer, cpu}]; s != nil {
					row = append(row, num(median(s.ns)), count(median(s.allocs)), fmt.Sprintf("%.1fx", median(s.ns)/ns))
				} else {
					row = append(row, "-", "-", "-")
				}
			}
			target, ok := "", true
			if l, found := limits[b]; found {
				target, ok = "<= "+num(l), ns <= l
			}
			if base := data[key{b, "withtimeout", cpu}]; base != nil {
				l := timeoutFactor * median(base.ns)
				target, ok = fmt.Sprintf("<= %.2f x WithTimeout (%s)", timeoutFactor, num(l)), ns <= l
			}
			if cpu > 1 {
				if one := data[key{b, "chaos", 1}]; one != nil {
					par := ns <= median(one.ns)
					target += fmt.Sprintf("; <= cpu 1 (%s)", num(median(one.ns)))
					ok = ok && par
				}
			}
			met := "yes"
			if !ok {
				met, failed = "NO", failed+1
			}
			fmt.Fprintln(w, strings.Join(append(row, target, met), "\t")+"\t")
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nratio = peer ns/op / chaos ns/op (medians); %d row(s) missed a target\n", failed)
	return nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func count(f float64) string { return strconv.FormatFloat(f, 'f', 0, 64) }

func num(f float64) string {
	switch {
	case f >= 100:
		return strconv.FormatFloat(f, 'f', 0, 64)
	case f >= 10:
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	return strconv.FormatFloat(f, 'f', 2, 64)
}
