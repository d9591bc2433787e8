"""Where a point belongs: the grid of every layer and the divisions covering it, and bulk assignment."""
