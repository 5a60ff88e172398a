package main

import (
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	in := `goos: linux
BenchmarkBreakerClosed/chaos         	 1000	        20.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkBreakerClosed/chaos         	 1000	        30.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkBreakerClosed/chaos         	 1000	        90.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkBreakerClosed/gobreaker     	 1000	       150.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkBreakerClosed/chaos-2       	 1000	        45.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkRetryBreakerTimeout/chaos   	 1000	       700 ns/op	     272 B/op	       4 allocs/op
BenchmarkRetryBreakerTimeout/withtimeout 	 1000	       600 ns/op	     272 B/op	       4 allocs/op
PASS
`
	var out strings.Builder
	if err := run(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"30.0", // the median of 20, 30, 90
		"5.0x", // 150 / 30
		"<= 1.25 x WithTimeout (750)",
		"1 row(s) missed a target", // cpu 2: above 40 and above cpu 1
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if err := run(strings.NewReader("no benchmarks here\n"), &out); err == nil {
		t.Error("run without benchmark lines succeeded; want an error")
	}
}
