//go:build !linux

package proxy

import "time"

const haveNanosleep = false

func nanosleep(time.Duration) {}
