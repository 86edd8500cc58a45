"""The QGIS-free core of Palettize: the settings of a run (options), the run API (run), colour
spaces and the metric registry, the nearest-colour mapper, palettes built from the image, cleanup,
dithering, the block loop, GDAL reading and writing, the outputs of a run put in place all or
nothing (outputs), the .qml style as text, the report.

Nothing here imports ``qgis``: the same engine serves the Processing algorithms, the command line
and a Dask cluster.
"""
