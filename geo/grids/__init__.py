"""Grid editing and reading: the net of every layer, how it is drawn, checked, split, merged and versioned."""
