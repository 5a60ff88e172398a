//go:build !race

package main

// pgRowsAtOnce is how many rows of TestPostgres run side by side.
const pgRowsAtOnce = 3
