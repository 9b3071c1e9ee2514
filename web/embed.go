// Package web holds the files the browser runs: the product page, its
// service worker and manifest, the embeddable widget, and (under dist/)
// the build outputs: edgetoon.wasm, Go's wasm_exec.js and the default
// model, plus the lab engine edgetoon-lab.wasm where `make lab-wasm` made
// it (only the /profile page loads it). models/ holds the models this
// project trained itself (committed, each with its model card). The
// server serves exactly this file set.
package web

import (
	"embed"
	"io/fs"
)

//go:generate sh -c "cd icons && go run mkicons.go"

// The dist directory is filled by `make`; a clean clone holds only
// dist/.gitkeep, which keeps this pattern valid so the package compiles.
//
//go:embed *.html *.js *.css *.webmanifest icons/*.png icons/*.svg models/*.safetensors all:dist
var files embed.FS

// FS is the asset set, rooted at this directory: index.html, app.js, ...,
// dist/edgetoon.wasm.
var FS fs.FS = files
