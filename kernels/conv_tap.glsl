			{
				ivec2 w$k = ivec2(WX + l$k * 4, WY + (ky * KW + $KX) * INL + s);
				mat4 m$k = mat4(W(w$k), W(w$k + ivec2(1, 0)), W(w$k + ivec2(2, 0)), W(w$k + ivec2(3, 0)));
$PIXELS
			}
