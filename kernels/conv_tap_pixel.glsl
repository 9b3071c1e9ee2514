				acc$k_$P += m$k * u$U;
