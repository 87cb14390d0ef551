"""How good the advice is: leave-one-data-set-out, nested selection, held-out data sets, component importance."""
