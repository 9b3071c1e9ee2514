//go:build !unix

package model

// Without O_NONBLOCK the Stat before the open is the only guard against
// a FIFO.
const oNonblock = 0
