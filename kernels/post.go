package kernels

import (
	_ "embed"
	"strings"
)

// The live page's last passes, after a plan's canvas pass has rendered
// the cartoon into an 8-bit texture instead of the canvas (the engine's
// post stage, wasm/post.go). They read textures of the output's size,
// row 0 at the bottom as the canvas pass wrote them, and the source
// image, row 0 at the top, which they sample as the network's input is
// sampled (footprint.glsl, included where the source says
// "#include footprint").

//go:embed stabilize.glsl
var stabilizeSrc string

//go:embed present.glsl
var presentSrc string

// StabilizeShader blends this frame's cartoon into the last stabilized one
// where the input has not changed, per pixel: a still scene's cartoon stops
// flickering while what moves follows at once. It writes the stabilized
// cartoon (location 0) and the input it stands for, blended alike (1),
// both kept for the next frame.
var StabilizeShader = withFootprint(stabilizeSrc)

// PresentShader renders to the canvas mix(input, cartoon, strength): 0 is
// the photo, 1 the cartoon as is.
var PresentShader = withFootprint(presentSrc)

// withFootprint puts footprint.glsl where src says "#include footprint".
func withFootprint(src string) string {
	return strings.Replace(src, "#include footprint\n", footprintSrc, 1)
}

// Gate of the temporal stabilization (StabilizeShader): the input change
// (largest channel of the 3x3 mean's change against the input the last
// cartoon stands for, in [0,1]) at which a pixel starts to take more of
// the new cartoon, the change at which it takes it whole, and its weight
// where the input is still. Sensor noise of a few levels moves the 3x3
// mean by well under GateLow; an edge that moves a pixel moves it by more
// than GateHigh. docs/camera.md has the measurements these were chosen
// on. The CPU path (web/cpupath.js) has a copy, pinned by a test in web/.
const (
	GateLow   = 0.008
	GateHigh  = 0.03
	GateFloor = 0.3
)
