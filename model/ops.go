package model

// Ops lists every op a graph may hold, in the order of their constants
// (graph.go). Each engine keeps one table keyed by these names (the CPU
// engine, the GPU planner, the ONNX exporter); each engine's tests check
// that its table covers this list, so a new op is added here and then
// registered once per engine (docs/architecture.md).
var Ops = []string{
	OpConv2D, OpAdd, OpSub, OpMul, OpDiv,
	OpLeakyReLU, OpReLU, OpTanh, OpSigmoid, OpClip,
	OpResize, OpInstanceNorm, OpLayerNorm, OpConcat, OpBoxMean, OpPad,
}
