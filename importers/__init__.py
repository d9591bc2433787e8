"""File readers, the demo district generator and the ``gridmap`` CLI. Imports geo only."""
