"""The QGIS-free core of Palettize: colour spaces and metrics, the nearest-colour mapper, palettes
built from the image, cleanup, dithering, the block loop, GDAL reading and writing, the report.

Nothing here imports ``qgis``: the same engine serves the Processing algorithms, the command line
and a Dask cluster.
"""
