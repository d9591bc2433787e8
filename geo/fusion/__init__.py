"""Multi-net fusion 多网融合: where the grid layers disagree, and the edits that would fix it.

rules.py (the configuration), pairs.py (between two nets, set-based), the
per-layer checks in geo/grids/topology.py, score.py, suggest.py, apply.py and
analysis.py, which puts them together.
"""
