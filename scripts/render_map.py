#!/usr/bin/python3
"""Render a synthetic geological map with QGIS and save it as an RGBA GeoTIFF, as a user's export would be.

The map is an irregular partition of the frame into ~20-30 polygons of geological units (a Voronoi
partition with wavy boundaries and a few elliptical plutons), drawn by a categorised renderer with
fixed legend colours, optionally with thin dark-grey outlines and anti-aliasing. A margin around an
irregular survey boundary stays fully transparent. Large maps are rendered in horizontal strips of
whole pixel rows, each with its own sub-extent, so memory stays bounded whatever the size.

    /usr/bin/python3 scripts/render_map.py OUT.tif [--width W --height H --no-outlines
                                                    --no-antialiasing --seed S]

Importable: ``render_geology_map(path, ...)`` and ``legend_colours()``.
"""

import argparse
import math
import os
import sys

import numpy as np

# Geological units and their legend colours: fixed, distinct, and deliberately not entries of the
# built-in palettes (no component is a multiple of 51, 128 or 192), so quantizing them is a real choice.
LEGEND = (
    (238, 106, 122, "Granite"),
    (58, 121, 87, "Gabbro"),
    (163, 139, 199, "Schist"),
    (214, 173, 118, "Gneiss"),
    (247, 233, 163, "Quartzite"),
    (178, 216, 232, "Marble"),
    (86, 93, 112, "Basalt"),
    (233, 187, 79, "Sandstone"),
    (139, 197, 224, "Limestone"),
    (149, 118, 94, "Shale"),
    (44, 139, 143, "Amphibolite"),
    (253, 246, 211, "Alluvium"),
)
OUTLINE_COLOUR = "64,64,64,255"
OUTLINE_WIDTH_MM = 0.26
DPI = 96.0
STRIP_ROWS = 2048  # rows rendered at once; a multiple of the GeoTIFF block height (256)
BLOCK = 256
SEGMENT_PX = 16  # longest polygon edge, in pixels (see PAD)
PAD = 32  # rows rendered beyond each strip's edges and dropped; must exceed SEGMENT_PX


def legend_colours():
    """The legend used by every map: a list of (r, g, b, label), one per geological unit."""
    return [tuple(entry) for entry in LEGEND]


def _ensure_qgis():
    """Return (app, created): the running QgsApplication, or one started here for a standalone run."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from qgis.core import QgsApplication

    app = QgsApplication.instance()
    if app is not None:
        return app, False
    app = QgsApplication([], False)
    app.initQgis()
    return app, True


# ----------------------------------------------------------------------------- geometry (QGIS-free)

def _displace(x, y, waves):
    """A smooth, small, invertible displacement field: wavy boundaries, shared edges move together."""
    dx = np.zeros_like(x)
    dy = np.zeros_like(y)
    for amp, kx, ky, phase in waves:
        arg = kx * x + ky * y + phase
        dx += amp * np.sin(arg)
        dy += amp * np.cos(arg + 0.7)
    return x + dx, y + dy


def _random_waves(rng):
    waves = []
    for _ in range(4):
        wavelength = rng.uniform(0.18, 0.45)
        angle = rng.uniform(0, 2 * math.pi)
        k = 2 * math.pi / wavelength
        # Lipschitz constant of the sum stays well below 1, so the field never folds a polygon.
        amp = rng.uniform(0.15, 0.25) * wavelength / (2 * math.pi) * 0.8
        waves.append((amp, k * math.cos(angle), k * math.sin(angle), rng.uniform(0, 2 * math.pi)))
    return waves


def _seeds(rng, aspect):
    """Cell centres: a jittered grid (even sizes) plus a few random extras (irregularity)."""
    target = rng.integers(17, 23)
    ny = max(2, int(round(math.sqrt(target / aspect))))
    nx = max(2, int(round(target / ny)))
    xs, ys = np.meshgrid((np.arange(nx) + 0.5) / nx, (np.arange(ny) + 0.5) / ny)
    pts = np.column_stack([xs.ravel(), ys.ravel()])
    pts += rng.uniform(-0.35, 0.35, pts.shape) / [nx, ny]
    extra = rng.uniform(0.05, 0.95, (int(rng.integers(2, 6)), 2))
    pts = np.vstack([pts, extra]) * [aspect, 1.0]
    return pts


def _ellipse(rng, cx, cy, rx, ry, n=96):
    theta = np.linspace(0, 2 * math.pi, n, endpoint=False)
    rot = rng.uniform(0, math.pi)
    wobble = 1 + 0.08 * np.sin(3 * theta + rng.uniform(0, 6)) + 0.05 * np.sin(5 * theta + rng.uniform(0, 6))
    ex, ey = rx * wobble * np.cos(theta), ry * wobble * np.sin(theta)
    x = cx + ex * math.cos(rot) - ey * math.sin(rot)
    y = cy + ex * math.sin(rot) + ey * math.cos(rot)
    return np.column_stack([x, y])


def _build_units(seed, aspect):
    """(unit label, QgsGeometry in normalised coordinates [0, aspect] x [0, 1], y up) for every polygon."""
    from qgis.core import QgsGeometry, QgsPointXY

    rng = np.random.default_rng(seed)
    labels = [label for _, _, _, label in LEGEND]
    waves = _random_waves(rng)

    def transformed(geom):
        geom = geom.densifyByDistance(0.004)
        # Apply the field ring by ring so each ring stays closed and vertices stay in order.
        polys = geom.asMultiPolygon() if geom.isMultipart() else [geom.asPolygon()]
        out = []
        for poly in polys:
            rings = []
            for ring in poly:
                arr = np.array([(p.x(), p.y()) for p in ring])
                x, y = _displace(arr[:, 0], arr[:, 1], waves)
                rings.append([QgsPointXY(a, b) for a, b in zip(x, y)])
            out.append(rings)
        return QgsGeometry.fromMultiPolygonXY(out) if len(out) > 1 else QgsGeometry.fromPolygonXY(out[0])

    # Voronoi partition of an enlarged frame, with boundaries made wavy by a smooth displacement.
    pts = _seeds(rng, aspect)
    multipoint = QgsGeometry.fromMultiPointXY([QgsPointXY(float(x), float(y)) for x, y in pts])
    big = QgsGeometry.fromRect(_rect(-0.2, -0.2, aspect + 0.2, 1.2))
    cells = [transformed(cell) for cell in multipoint.voronoiDiagram(big).asGeometryCollection()]

    # Survey boundary: an inset frame with a cut north-west corner and a gently wavy east side;
    # outside it the map stays fully transparent.
    margin = 0.035
    east = [(aspect - margin - 0.012 * (1 - math.cos(2 * math.pi * t)) * (1 + 0.5 * math.sin(9 * t + seed)),
             margin + t * (1 - 2 * margin)) for t in np.linspace(0, 1, 80)]
    ring = [(margin, margin)] + east + [(0.22 * aspect, 1 - margin), (margin, 1 - margin - 0.18)]
    boundary = QgsGeometry.fromPolygonXY([[QgsPointXY(x, y) for x, y in ring + ring[:1]]])

    # Two or three plutons, apart from each other, cut across the cells: cells lose what they take.
    plutons = []
    for _ in range(int(rng.integers(2, 4))):
        for _attempt in range(20):
            size = min(aspect, 1.0)  # plutons scale with the frame's shorter side
            cx, cy = rng.uniform(0.2 * size, aspect - 0.2 * size), rng.uniform(0.2, 0.8)
            r = rng.uniform(0.06, 0.1) * size
            ring_pts = _ellipse(rng, cx, cy, r * rng.uniform(1.1, 1.6), r)
            geom = QgsGeometry.fromPolygonXY([[QgsPointXY(float(x), float(y)) for x, y in ring_pts]])
            if all(geom.distance(other) > 0.05 * size for other in plutons):
                plutons.append(geom)
                break

    pieces = []
    for cell in cells:
        geom = cell.intersection(boundary)
        for pluton in plutons:
            geom = geom.difference(pluton)
        if not geom.isEmpty() and geom.area() > 1e-5:
            pieces.append(geom)
    n_cells = len(pieces)
    pieces += [pluton.intersection(boundary) for pluton in plutons]

    # Units: neighbours never share one (greedy colouring, least-used unit first, so every unit of
    # the legend appears); plutons are intrusive rocks where their neighbours allow.
    neighbours = [[j for j, other in enumerate(pieces) if j != i and geom.distance(other) < 1e-3]
                  for i, geom in enumerate(pieces)]
    used = {label: 0 for label in labels}
    chosen = [None] * len(pieces)
    intrusive = ["Granite", "Gabbro"]
    for i in list(range(n_cells, len(pieces))) + list(range(n_cells)):
        taken = {chosen[j] for j in neighbours[i]}
        if i >= n_cells:
            options = [lbl for lbl in intrusive if lbl not in taken] or [lbl for lbl in labels if lbl not in taken]
        else:
            options = [lbl for lbl in labels if lbl not in taken] or list(labels)
        fewest = min(used[lbl] for lbl in options)
        options = [lbl for lbl in options if used[lbl] == fewest]
        chosen[i] = options[int(rng.integers(len(options)))]
        used[chosen[i]] += 1
    units = list(zip(chosen, pieces))
    return units


def _rect(xmin, ymin, xmax, ymax):
    from qgis.core import QgsRectangle

    return QgsRectangle(xmin, ymin, xmax, ymax)


# ----------------------------------------------------------------------------- QGIS layer and rendering

def _make_layer(units, crs, scale, x0, y0, pixel):
    """A memory polygon layer (field 'unit') in map coordinates.

    Edges are split to at most SEGMENT_PX pixels (``pixel`` is one pixel in normalised units): Qt draws
    thin outlines with a line stepper that starts where a line enters the image, so a long edge crossing
    a strip's edge would come out subtly different in the two strips; short edges inside PAD do not.
    """
    from qgis.core import QgsFeature, QgsVectorLayer

    layer = QgsVectorLayer("Polygon?crs={}&field=unit:string(32)".format(crs), "geology", "memory")
    features = []
    for label, geom in units:
        geom = geom.densifyByDistance(SEGMENT_PX * pixel)
        geom.transform(_affine(scale, x0, y0))
        feature = QgsFeature(layer.fields())
        feature.setAttribute("unit", label)
        feature.setGeometry(geom)
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    layer.updateExtents()
    return layer


def _affine(scale, x0, y0):
    from qgis.PyQt.QtGui import QTransform

    return QTransform(scale, 0, 0, scale, x0, y0)


def _renderer(outlines):
    from qgis.core import QgsCategorizedSymbolRenderer, QgsFillSymbol, QgsRendererCategory

    categories = []
    for r, g, b, label in LEGEND:
        props = {"color": "{},{},{},255".format(r, g, b), "style": "solid"}
        if outlines:
            props.update({"outline_color": OUTLINE_COLOUR, "outline_style": "solid",
                          "outline_width": str(OUTLINE_WIDTH_MM), "outline_width_unit": "MM",
                          "joinstyle": "round"})
        else:
            props.update({"outline_style": "no"})
        symbol = QgsFillSymbol.createSimple(props)
        # Unclipped, whole polygons: the same path in every strip, so strips join without seams.
        symbol.setClipFeaturesToExtent(False)
        categories.append(QgsRendererCategory(label, symbol, label))
    return QgsCategorizedSymbolRenderer("unit", categories)


def _render_strip(settings, width, rows):
    """Render the current settings into a (rows, width, 4) uint8 RGBA array with straight alpha."""
    from qgis.core import QgsMapRendererCustomPainterJob
    from qgis.PyQt.QtCore import QSize, Qt
    from qgis.PyQt.QtGui import QImage, QPainter

    settings.setOutputSize(QSize(width, rows))
    image = QImage(width, rows, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    job = QgsMapRendererCustomPainterJob(settings, painter)
    job.renderSynchronously()
    painter.end()
    job = painter = None
    image = image.convertToFormat(QImage.Format.Format_ARGB32)  # un-premultiply: straight alpha
    ptr = image.constBits()
    ptr.setsize(image.bytesPerLine() * image.height())
    raw = np.frombuffer(ptr, np.uint8).reshape(rows, image.bytesPerLine())[:, :width * 4]
    raw = raw.reshape(rows, width, 4)
    # ARGB32 is one native-endian 32-bit word 0xAARRGGBB per pixel: BGRA bytes on little-endian.
    order = [2, 1, 0, 3] if sys.byteorder == "little" else [1, 2, 3, 0]
    return np.ascontiguousarray(raw[:, :, order])


def _write_strips(path, settings, width, height, crs, x0, y0, pixel_width, pixel_height):
    """Render ``settings`` strip by strip into an RGBA GeoTIFF of ``width`` x ``height`` pixels whose
    top-left corner is (x0, y0) in ``crs``."""
    from osgeo import gdal, osr

    srs = osr.SpatialReference()
    srs.SetFromUserInput(crs)
    options = ["PHOTOMETRIC=RGB", "ALPHA=YES", "COMPRESS=DEFLATE", "TILED=YES",
               "BLOCKXSIZE={}".format(BLOCK), "BLOCKYSIZE={}".format(BLOCK), "BIGTIFF=IF_SAFER",
               "NUM_THREADS=ALL_CPUS"]
    ds = gdal.GetDriverByName("GTiff").Create(str(path), width, height, 4, gdal.GDT_Byte, options)
    try:
        ds.SetGeoTransform((x0, pixel_width, 0.0, y0, 0.0, -pixel_height))
        ds.SetProjection(srs.ExportToWkt())
        for row in range(0, height, STRIP_ROWS):
            rows = min(STRIP_ROWS, height - row)
            # Each strip gets its own sub-extent on exactly the pixel grid of the whole map.
            # Rendered with PAD extra rows above and below, then cropped: Qt strokes outlines a little
            # differently near the image edge (see _make_layer), and this keeps those rows out of the file.
            top, bottom = max(0, row - PAD), min(height, row + rows + PAD)
            settings.setExtent(_rect(x0, y0 - bottom * pixel_height, x0 + width * pixel_width,
                                     y0 - top * pixel_height))
            rgba = _render_strip(settings, width, bottom - top)[row - top:row - top + rows]
            ds.WriteRaster(0, row, width, rows, np.ascontiguousarray(rgba), buf_xsize=width, buf_ysize=rows,
                           buf_type=gdal.GDT_Byte, band_list=[1, 2, 3, 4],
                           buf_pixel_space=4, buf_line_space=4 * width, buf_band_space=1)
            del rgba
            ds.FlushCache()
    finally:
        ds = None


def _render_geology_map(path, width=600, height=400, outlines=True, antialiasing=True, seed=0,
                       crs="EPSG:32635", pixel_size=25.0, origin=(500000.0, 7500000.0)):
    """Render a synthetic geological map to an RGBA GeoTIFF at ``path``; return the legend colours.

    The raster is exactly ``width`` x ``height`` pixels of ``pixel_size`` map units, top-left corner
    at ``origin``, in ``crs``. Polygons cover most of the frame; outside the survey boundary pixels are
    fully transparent. Alpha is straight (unassociated). Returns ``legend_colours()``: (r, g, b, label).
    """
    from qgis.core import Qgis, QgsCoordinateReferenceSystem, QgsMapSettings, QgsVectorSimplifyMethod
    from qgis.PyQt.QtGui import QColor, QImage

    width, height = int(width), int(height)
    if width < 1 or height < 1:
        raise ValueError("width and height must be positive")
    _ensure_qgis()
    x0, y0 = float(origin[0]), float(origin[1])
    ps = float(pixel_size)
    map_height = height * ps
    y_min = y0 - map_height

    units = _build_units(seed, width / height)
    # Normalised (0..aspect, 0..1, y up) -> map units: one normalised unit is the frame's height.
    layer = _make_layer(units, crs, map_height, x0, y_min, 1.0 / height)
    layer.setRenderer(_renderer(outlines))
    # No on-the-fly simplification: it depends on the extent and would differ from strip to strip.
    no_simplify = QgsVectorSimplifyMethod()
    no_simplify.setSimplifyHints(QgsVectorSimplifyMethod.SimplifyHint.NoSimplification)
    layer.setSimplifyMethod(no_simplify)
    qcrs = QgsCoordinateReferenceSystem(crs)
    if not qcrs.isValid():
        raise ValueError("unknown CRS: {}".format(crs))

    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(qcrs)
    settings.setBackgroundColor(QColor(0, 0, 0, 0))
    settings.setOutputDpi(DPI)
    settings.setDevicePixelRatio(1.0)
    settings.setOutputImageFormat(QImage.Format.Format_ARGB32_Premultiplied)
    settings.setFlag(Qgis.MapSettingsFlag.Antialiasing, bool(antialiasing))
    settings.setFlag(Qgis.MapSettingsFlag.RenderMapTile, True)  # strips must join without seams
    settings.setFlag(Qgis.MapSettingsFlag.DrawEditingInfo, False)

    _write_strips(path, settings, width, height, crs, x0, y0, ps, ps)
    del layer
    return legend_colours()



#: Maps of real boundaries: (layer of QGIS's own world_map.gpkg, extent in degrees (west, south, east,
#: north)); the countries of the world and the provinces of Europe.
WORLD_MAPS = {
    "world": ("countries", (-180.0, -90.0, 180.0, 90.0)),
    "europe": ("states_provinces", (-10.0, 35.0, 30.0, 61.6667)),
}
WORLD_OUTLINE_COLOUR = "0,0,0,255"


def world_map_path():
    """The vector data QGIS itself ships (resources/data/world_map.gpkg), or None."""
    from qgis.core import QgsApplication

    path = os.path.join(QgsApplication.pkgDataPath(), "resources", "data", "world_map.gpkg")
    return path if os.path.exists(path) else None


def _render_world_map(path, name="world", width=3600, height=1800, outlines=False, antialiasing=True,
                      background=None):
    """Render the countries (``name`` "world") or European provinces ("europe") of QGIS's
    world_map.gpkg to an RGBA GeoTIFF in EPSG:4326, categorised by ``"fid" % 12`` into the LEGEND
    colours, optionally with thin black outlines, onto transparency (``background`` None) or an
    opaque (r, g, b) background. Returns ``legend_colours()``."""
    from qgis.core import (Qgis, QgsCategorizedSymbolRenderer, QgsFillSymbol, QgsMapSettings,
                           QgsRendererCategory, QgsVectorLayer, QgsVectorSimplifyMethod)
    from qgis.PyQt.QtGui import QColor, QImage

    _ensure_qgis()
    source = world_map_path()
    if source is None:
        raise RuntimeError("QGIS's resources/data/world_map.gpkg is not installed")
    layer_name, (west, south, east, north) = WORLD_MAPS[name]
    layer = QgsVectorLayer("{}|layername={}".format(source, layer_name), name, "ogr")
    categories = []
    for i, (r, g, b, label) in enumerate(LEGEND):
        props = {"color": "{},{},{},255".format(r, g, b), "style": "solid", "outline_style": "no"}
        if outlines:
            props.update({"outline_color": WORLD_OUTLINE_COLOUR, "outline_style": "solid",
                          "outline_width": str(OUTLINE_WIDTH_MM), "outline_width_unit": "MM"})
        symbol = QgsFillSymbol.createSimple(props)
        symbol.setClipFeaturesToExtent(False)  # as _renderer: strips join without seams
        categories.append(QgsRendererCategory(i, symbol, label))
    layer.setRenderer(QgsCategorizedSymbolRenderer('"fid" % {}'.format(len(LEGEND)), categories))
    no_simplify = QgsVectorSimplifyMethod()
    no_simplify.setSimplifyHints(QgsVectorSimplifyMethod.SimplifyHint.NoSimplification)
    layer.setSimplifyMethod(no_simplify)

    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(layer.crs())
    settings.setBackgroundColor(QColor(0, 0, 0, 0) if background is None else QColor(*background))
    settings.setOutputDpi(DPI)
    settings.setDevicePixelRatio(1.0)
    settings.setOutputImageFormat(QImage.Format.Format_ARGB32_Premultiplied)
    settings.setFlag(Qgis.MapSettingsFlag.Antialiasing, bool(antialiasing))
    settings.setFlag(Qgis.MapSettingsFlag.RenderMapTile, True)
    settings.setFlag(Qgis.MapSettingsFlag.DrawEditingInfo, False)
    width, height = int(width), int(height)
    _write_strips(path, settings, width, height, "EPSG:4326", west, north, (east - west) / width,
                  (north - south) / height)
    del layer
    return legend_colours()


def render_world_map(*args, **kwargs):
    """_render_world_map with GDAL exceptions on, as render_geology_map."""
    return _with_gdal_exceptions(_render_world_map, *args, **kwargs)


def _with_gdal_exceptions(function, *args, **kwargs):
    from osgeo import gdal

    previous = gdal.GetUseExceptions()
    gdal.UseExceptions()
    try:
        return function(*args, **kwargs)
    finally:
        if not previous:
            gdal.DontUseExceptions()


def render_geology_map(*args, **kwargs):
    """Render the map (see _render_geology_map) with GDAL exceptions on, restoring the caller's
    GDAL error mode afterwards so importers (tests, benchmarks) keep theirs."""
    return _with_gdal_exceptions(_render_geology_map, *args, **kwargs)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Render a synthetic geological map to an RGBA GeoTIFF.")
    parser.add_argument("output", help="GeoTIFF to write")
    parser.add_argument("--width", type=int, default=600)
    parser.add_argument("--height", type=int, default=400)
    parser.add_argument("--no-outlines", dest="outlines", action="store_false", help="no polygon outlines")
    parser.add_argument("--no-antialiasing", dest="antialiasing", action="store_false")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--crs", default="EPSG:32635")
    parser.add_argument("--pixel-size", type=float, default=25.0)
    args = parser.parse_args(argv)
    app, created = _ensure_qgis()
    try:
        legend = render_geology_map(args.output, args.width, args.height, args.outlines,
                                    args.antialiasing, args.seed, args.crs, args.pixel_size)
    finally:
        if created:
            app.exitQgis()
    print("{}: {} x {} px, {} legend units".format(args.output, args.width, args.height, len(legend)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
