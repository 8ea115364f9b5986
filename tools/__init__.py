"""Maintenance scripts that produce files committed to the repository (run by hand, not at run time)."""
