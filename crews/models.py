"""Crews, members, shifts, positions and route plans arrive with the dispatch work."""
