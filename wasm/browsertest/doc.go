// Package browsertest holds the GPU engine's tests and benchmarks in a real
// browser: they build the WASM engine, serve it on 127.0.0.1 and drive
// headless Chromium (WebGL2 on SwiftShader), comparing every result with
// the CPU reference engine (model/cpu).
//
//	go test ./wasm/browsertest                       # tests
//	go test ./wasm/browsertest -run XXX -bench GPU   # make bench-gpu
package browsertest
