#version 300 es
// The canvas: see PresentShader (post.go).
precision highp float;
precision highp sampler2D;
uniform sampler2D u_image; // the source frame, any size, row 0 at the top
uniform sampler2D u_out;   // the cartoon (stabilized or not), output size
uniform vec4 u_p;          // x: strength
out vec4 o;

#include footprint

void main() {
	ivec2 p = ivec2(gl_FragCoord.xy);
	vec2 size = vec2(textureSize(u_out, 0));
	vec3 src = footprint(u_image, vec2(float(p.x), size.y - 1.0 - float(p.y)), 1.0 / size).rgb;
	o = vec4(mix(src, texelFetch(u_out, p, 0).rgb, u_p.x), 1.0);
}
