//go:build unix

package model

import "syscall"

const oNonblock = syscall.O_NONBLOCK
