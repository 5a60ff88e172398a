//go:build race

package main

// pgRowsAtOnce is how many rows of TestPostgres run side by side: with the
// race detector, each run's proxy and load in this process take several
// times the CPU, and three at once on a busy machine of two cores starved
// them for seconds.
const pgRowsAtOnce = 2
