#version 300 es
// Shared by every pass. Arithmetic is highp everywhere: the storage format
// of the textures alone decides fp32 or fp16.
precision highp float;
precision highp int;
precision highp sampler2D;
precision highp sampler2DArray;
uniform int u_base; // first output layer of this draw
// x >= 0 ? x : a*x, as a select so that x passes through exactly.
vec4 leaky(vec4 x, float a) { return mix(x * a, x, greaterThanEqual(x, vec4(0.0))); }
