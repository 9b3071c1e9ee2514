package tflite

import "fmt"

// Builtin operator codes (BuiltinOperator in schema.fbs) that the
// importer knows by name. Others are reported by number.
const (
	opAdd               = 0
	opConcatenation     = 2
	opConv2D            = 3
	opDepthwiseConv2D   = 4
	opDequantize        = 6
	opLogistic          = 14
	opMul               = 18
	opRelu              = 19
	opRelu6             = 21
	opReshape           = 22
	opResizeBilinear    = 23
	opTanh              = 28
	opPad               = 34
	opTranspose         = 39
	opMean              = 40
	opSub               = 41
	opDiv               = 42
	opSqueeze           = 43
	opPadV2             = 60
	opTransposeConv     = 67
	opSqrt              = 75
	opRsqrt             = 76
	opPow               = 78
	opSquare            = 92
	opResizeNearest     = 97
	opLeakyRelu         = 98
	opSquaredDifference = 99
	opMirrorPad         = 100
	opQuantize          = 114
)

var opNames = map[int32]string{
	opAdd: "ADD", 1: "AVERAGE_POOL_2D", opConcatenation: "CONCATENATION",
	opConv2D: "CONV_2D", opDepthwiseConv2D: "DEPTHWISE_CONV_2D",
	opDequantize: "DEQUANTIZE", 9: "FULLY_CONNECTED", opLogistic: "LOGISTIC",
	17: "MAX_POOL_2D", opMul: "MUL", opRelu: "RELU", opRelu6: "RELU6",
	opReshape: "RESHAPE", opResizeBilinear: "RESIZE_BILINEAR",
	25: "SOFTMAX", opTanh: "TANH", 32: "CUSTOM", opPad: "PAD",
	opTranspose: "TRANSPOSE", opMean: "MEAN", opSub: "SUB", opDiv: "DIV",
	opSqueeze: "SQUEEZE", 45: "STRIDED_SLICE", 53: "CAST", 54: "PRELU",
	55: "MAXIMUM", 57: "MINIMUM", opPadV2: "PADV2",
	opTransposeConv: "TRANSPOSE_CONV", 74: "SUM", opSqrt: "SQRT",
	opRsqrt: "RSQRT", opPow: "POW", opSquare: "SQUARE",
	opResizeNearest: "RESIZE_NEAREST_NEIGHBOR", opLeakyRelu: "LEAKY_RELU",
	opSquaredDifference: "SQUARED_DIFFERENCE", opMirrorPad: "MIRROR_PAD",
	opQuantize: "QUANTIZE", 117: "HARD_SWISH",
}

// OpName returns the schema name of a builtin operator code.
func OpName(code int32) string {
	if s, ok := opNames[code]; ok {
		return s
	}
	return fmt.Sprintf("BUILTIN_%d", code)
}

// Fused activation functions (ActivationFunctionType).
const (
	actNone  = 0
	actRelu  = 1
	actRelu6 = 3
	actTanh  = 4
)

// Padding (Padding enum).
const (
	padSame  = 0
	padValid = 1
)

// Option slots, by table, from schema.fbs.
const (
	// Conv2DOptions.
	convPadding, convStrideW, convStrideH, convAct, convDilW, convDilH = 0, 1, 2, 3, 4, 5
	// DepthwiseConv2DOptions.
	dwPadding, dwStrideW, dwStrideH, dwMultiplier, dwAct, dwDilW, dwDilH = 0, 1, 2, 3, 4, 5, 6
	// AddOptions, SubOptions, MulOptions, DivOptions.
	binAct = 0
	// ConcatenationOptions.
	concatAxis, concatAct = 0, 1
	// ResizeBilinearOptions (slots 0, 1 are deprecated).
	resizeAlignCorners, resizeHalfPixel = 2, 3
	// ResizeNearestNeighborOptions.
	nearestAlignCorners, nearestHalfPixel = 0, 1
	// LeakyReluOptions.
	leakyAlpha = 0
	// MirrorPadOptions: REFLECT = 0, SYMMETRIC = 1.
	mirrorMode = 0
	// ReducerOptions.
	reduceKeepDims = 0
	// TransposeConvOptions.
	tconvPadding, tconvStrideW, tconvStrideH, tconvAct = 0, 1, 2, 3
)

// optionsType is the BuiltinOptions union tag each op's options must
// carry, so that a table is never read with another table's layout.
var optionsType = map[int32]uint8{
	opConv2D: 1, opDepthwiseConv2D: 2, opConcatenation: 10, opAdd: 11,
	opResizeBilinear: 15, opMul: 21, opPad: 22, opMean: 27, opSub: 28,
	opDiv: 29, opPadV2: 43, opResizeNearest: 74, opLeakyRelu: 75,
	opMirrorPad: 77,
}
