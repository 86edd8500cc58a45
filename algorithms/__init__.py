"""Processing algorithms and the QGIS-free engine they drive."""
