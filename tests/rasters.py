"""Small real rasters for the tests, and ways to run Palettize on them as users do."""

import os
import subprocess

import numpy as np
from osgeo import gdal, ogr, osr

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_MAP = os.path.join(ROOT, "resources", "sample_map.tif")
UTM35N = osr.SpatialReference()
UTM35N.ImportFromEPSG(32635)
NORTH_UP = (500000.0, 25.0, 0.0, 7500000.0, 0.0, -25.0)


def write_raster(path, bands, geotransform=NORTH_UP, srs=UTM35N, alpha=False, nodata=None, gdal_type=gdal.GDT_Byte,
                 options=()):
    """A GeoTIFF from a (bands, rows, cols) array; ``alpha`` marks the last band as alpha;
    ``options``: further creation options (layout, compression)."""
    bands = np.asarray(bands)
    options = (["PHOTOMETRIC=RGB"] if len(bands) >= 3 and gdal_type == gdal.GDT_Byte else []) + list(options)
    if alpha:
        options.append("ALPHA=YES")
    dataset = gdal.GetDriverByName("GTiff").Create(path, bands.shape[2], bands.shape[1], len(bands), gdal_type, options)
    dataset.SetGeoTransform(geotransform)
    if srs is not None:
        dataset.SetSpatialRef(srs)
    for i, values in enumerate(bands, 1):
        band = dataset.GetRasterBand(i)
        band.WriteArray(values)
        if nodata is not None and not (alpha and i == len(bands)):
            band.SetNoDataValue(nodata)
    dataset = None
    return path


def random_rgba(rows=48, cols=64, seed=0, transparent_share=0.1):
    """Random colours; a share of pixels fully transparent, the rest opaque."""
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (3, rows, cols), dtype=np.uint8)
    alpha = np.where(rng.random((rows, cols)) < transparent_share, 0, 255).astype(np.uint8)
    return np.concatenate([rgb, alpha[None]])


def geopackage_with_a_table(path, name):
    """A GeoPackage at ``path`` holding a table of a user's, ``name``, of one row (added to the
    GeoPackage when there is one)."""
    dataset = ogr.Open(str(path), 1) if os.path.exists(str(path)) else ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = dataset.CreateLayer(name, geom_type=ogr.wkbNone)
    layer.CreateField(ogr.FieldDefn("depth", ogr.OFTReal))
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetField("depth", 12.5)
    layer.CreateFeature(feature)
    feature = layer = dataset = None
    return str(path)


def geopackage_tables(path):
    """{table name: rows} of the GeoPackage at ``path``."""
    try:  # None for a GeoPackage of rasters alone, or an error with OGR's exceptions on (another test's)
        dataset = ogr.Open(str(path))
    except RuntimeError:
        dataset = None
    return {dataset.GetLayer(i).GetName(): dataset.GetLayer(i).GetFeatureCount()
            for i in range(dataset.GetLayerCount())} if dataset is not None else {}


def quantize(params, feedback=None, context=None):
    """Run palettize:quantize through processing.run, as in the Python console."""
    import processing

    return processing.run("palettize:quantize", params, feedback=feedback, context=context)


def read_indices(path):
    dataset = gdal.Open(path)
    return dataset.GetRasterBand(1).ReadAsArray()


def qgis_process(*args):
    """Run scripts/qgis-process (the checkout as plugin 'palettize'); CompletedProcess with text."""
    return subprocess.run(
        [os.path.join(ROOT, "scripts", "qgis-process")] + list(args),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=600,
    )


def listing(folder, inputs=("in.tif",)):
    """The names in ``folder``, sorted, but the .aux.xml QGIS saves beside an input it opened (the
    statistics it computed for the layer's style) as it lets the layer go."""
    return sorted(name for name in os.listdir(str(folder)) if name not in {name + ".aux.xml" for name in inputs})


def leftovers(folder):
    """Temporary files or folders a run left in ``folder``."""
    return [name for name in os.listdir(folder) if name.startswith(".palettize-")]


def feedback_log():
    """A QgsProcessingFeedback that keeps what a run tells: ``infos`` and ``warnings``, as lists."""
    from qgis.core import QgsProcessingFeedback

    class Log(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.infos, self.warnings = [], []

        def pushInfo(self, text):  # noqa: N802 (QGIS API)
            self.infos.append(text)
            super().pushInfo(text)

        def pushWarning(self, text):  # noqa: N802 (QGIS API)
            self.warnings.append(text)
            super().pushWarning(text)

    return Log()


def write_file(tmp_path, name, content):
    """A file ``name`` in ``tmp_path`` holding ``content`` (bytes as they are, text as UTF-8); its path."""
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return str(path)



def drawn_on_map(layer, extent, width, height):
    """(rows, columns, 3) RGB and (rows, columns) alpha of ``layer`` as a QGIS map of ``extent`` at ``width`` x
    ``height`` pixels draws it."""
    from qgis.core import QgsMapRendererSequentialJob, QgsMapSettings
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor, QImage

    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(layer.crs())
    settings.setExtent(extent)
    settings.setOutputSize(QSize(width, height))
    settings.setBackgroundColor(QColor(0, 0, 0, 0))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage().convertToFormat(QImage.Format.Format_ARGB32)
    bits = image.constBits()
    bits.setsize(image.sizeInBytes())
    argb = np.frombuffer(bytes(bits), np.uint8).reshape(height, image.bytesPerLine() // 4, 4)[:, :width]
    return argb[..., 2::-1], argb[..., 3]
