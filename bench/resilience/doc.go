// Package bench compares package resilience with sony/gobreaker and
// failsafe-go on the same cases. It is a separate module so that the main
// module does not depend on them. Run ./run.sh for the table.
package bench
