				acc$k_$P$DST += $PRODUCT;
