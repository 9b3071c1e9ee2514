#version 300 es
// Temporal stabilization: see StabilizeShader (post.go).
precision highp float;
precision highp sampler2D;
uniform sampler2D u_image;   // the source frame, any size, row 0 at the top
uniform sampler2D u_net;     // this frame's cartoon, output size
uniform sampler2D u_prevIn;  // the input the last stabilized cartoon stands for
uniform sampler2D u_prevOut; // the last stabilized cartoon
// x, y: the input change at which the gate starts to open and is fully
// open; z: the new cartoon's weight where the input is still; w: 1 when
// there is no history (the first frame), which takes the cartoon whole.
uniform vec4 u_p;
layout(location = 0) out vec4 o_out;
layout(location = 1) out vec4 o_in;

#include footprint

// inputAt samples the source as the network's input is, at output pixel
// q (q in GL rows).
vec3 inputAt(ivec2 q, vec2 size) {
	return footprint(u_image, vec2(float(q.x), size.y - 1.0 - float(q.y)), 1.0 / size).rgb;
}

void main() {
	ivec2 p = ivec2(gl_FragCoord.xy);
	ivec2 size = textureSize(u_net, 0);
	vec2 fsize = vec2(size);
	vec3 centre = inputAt(p, fsize);
	// The change of the 3x3 mean: sensor noise averages out, an edge
	// moving by a pixel does not. A thin line moving alone still opens
	// the gate through the centre's own change (weighted as much as the
	// mean's noise).
	vec3 now = vec3(0.0), before = vec3(0.0);
	for (int dy = -1; dy <= 1; dy++) {
		for (int dx = -1; dx <= 1; dx++) {
			ivec2 q = clamp(p + ivec2(dx, dy), ivec2(0), size - 1);
			now += dx == 0 && dy == 0 ? centre : inputAt(q, fsize);
			before += texelFetch(u_prevIn, q, 0).rgb;
		}
	}
	vec3 d = max(abs(now - before) / 9.0, abs(centre - texelFetch(u_prevIn, p, 0).rgb) / 3.0);
	float change = max(d.r, max(d.g, d.b));
	float a = u_p.w > 0.5 ? 1.0 : mix(u_p.z, 1.0, smoothstep(u_p.x, u_p.y, change));
	vec3 net = texelFetch(u_net, p, 0).rgb;
	o_out = vec4(mix(texelFetch(u_prevOut, p, 0).rgb, net, a), 1.0);
	// The input this cartoon stands for, blended as the cartoon is: a slow
	// drift (a pan) adds up against it until the gate opens, so the
	// cartoon lags the camera by at most about the gate's threshold,
	// where comparing with the last frame alone would never open it.
	o_in = vec4(mix(texelFetch(u_prevIn, p, 0).rgb, centre, a), 1.0);
}
