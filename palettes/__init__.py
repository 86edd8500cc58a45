"""Palettes: colours plus labels, the shipped palettes and palette files (QGIS-free)."""
