#version 300 es
// One triangle covering the viewport: (-1,-1), (3,-1), (-1,3). No vertex
// buffers: the corners come from gl_VertexID.
void main() {
	vec2 v = vec2(float((gl_VertexID & 1) << 2) - 1.0, float((gl_VertexID & 2) << 1) - 1.0);
	gl_Position = vec4(v, 0.0, 1.0);
}
