			vec4 u$D = uint(b.x + $D) < uint(INSIZE.x) ? X(ivec2(b.x + $D, iy), s) : vec4(0.0);
