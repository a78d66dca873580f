"""Crews REST API: the route optimiser."""
