			{
				ivec2 w$k = ivec2(WX + l$k * 4, WY + (ky * KW + $KX) * INL + s);
				$MAT m$k = $MAT($COLS);
$PIXELS
			}
