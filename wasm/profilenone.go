//go:build js && wasm && !lab

package main

import "syscall/js"

// registerLab adds nothing: the shipped engine exports only its API (the
// lab build's exports are in profiledebug.go).
func registerLab(js.Value) {}
