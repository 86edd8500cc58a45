"""The words users read: each parameter's label, its tooltip and its full description, in one place.

The algorithms take their labels and ``setHelp`` tooltips from here and build their help panel
(``shortHelpString``) from it; the README's parameter reference is generated from the same text
(``scripts/readme_reference.py``; a test keeps the README in step). The text uses a little markup:
``*italic*``, ``**bold**`` and ```code```, turned into HTML for QGIS and kept as Markdown for the README.
QGIS 3.22 shows every newline of ``shortHelpString`` as a paragraph break, so paragraphs are joined
into one line each.
"""

import html
import re
from collections import namedtuple

#: ids: the parameter ids of one row (several share a row); label: what the dialog shows (for the
#: first id); kind and default: the README's columns; tip: a one-sentence tooltip (setHelp); text:
#: the full description (help panel and README). advanced: listed under Advanced parameters.
Parameter = namedtuple("Parameter", "ids label kind default tip text advanced")


def parameter(ids, label, kind, default, tip, text, advanced=False):
    return Parameter(tuple(ids.split()), label, kind, default, tip, " ".join(text.split()), advanced)


# -- shared by both algorithms ----------------------------------------------------------------------

INPUT = parameter(
    "INPUT", "Input raster layer", "raster layer", "", "The layer whose pixels are read.",
    "The layer whose pixels are read: any raster QGIS draws (a map exported as RGB, a scan, a styled raster).")
SOURCE = parameter(
    "SOURCE", "Pixel source", "`rendered` / `bands`", "`rendered`",
    "rendered: the layer as QGIS draws it; bands: the raw band values.",
    """`rendered`: the pixels as QGIS draws the layer with its current style (pseudocolour, paletted,
    RGB, brightness/hue filters; the layer's opacity is ignored); a file given by its path is the
    project's layer of that file where one is loaded (Processing's rule: with that layer's style),
    else the file with its default style (`<name>.qml` beside it), as QGIS opens it. Where the style
    cannot change the values (plain Byte RGB(A), no stretch, no filters) the bands are read
    directly, with identical results. `bands`: the raw values of the bands below, clipped to 0–255,
    read with GDAL (a paletted raster's are indices into its colour table, not colours: it is
    refused, to be read as `rendered`; so is a layer QGIS opens with GDAL open options, such as a
    world file's georeferencing or a PDF's resolution, which GDAL would not apply).""", advanced=True)
BANDS = parameter(
    "RED_BAND GREEN_BAND BLUE_BAND", "Red band", "band, optional", "1, 2, 3",
    "Band read as red (green, blue) with Pixel source = bands.",
    "Bands read as red, green and blue with `SOURCE=bands` (*Green band*, *Blue band* likewise).",
    advanced=True)
ALPHA_BAND = parameter(
    "ALPHA_BAND", "Alpha band", "band, optional", "the dataset's alpha band or mask",
    "Band read as alpha with Pixel source = bands.",
    "Alpha read with `SOURCE=bands`; without it the dataset's alpha band or mask is used.", advanced=True)
EXTENT = parameter(
    "EXTENT", "Output extent", "extent, optional", "the layer's own grid",
    "The output grid's extent (rendered source); by default the layer's own grid.",
    """With `SOURCE=rendered`: the output grid's extent, in the extent's CRS (the output gets that
    CRS). In another CRS than the layer's, each pixel takes the colour drawn for the layer's pixel
    under its centre, as gdalwarp's nearest neighbour picks it: the centres are transformed exactly,
    by the transformation the project uses between the two CRSs, and a geographic layer's
    longitudes are wrapped as gdalwarp wraps them (a layer reaching past 180° or given in 0..360 is
    found across the antimeridian, in its own CRS too). A style that resamples (bilinear,
    cubic) or colours a pixel from its neighbours (hillshade, contours) is drawn by QGIS's own
    reprojection instead, by its approximate transform, as a map shows it. Its top-left corner is the grid's
    origin; a width or height that is not a whole number of pixels is rounded up, so the grid may
    reach up to one pixel past the right and bottom edges.""", advanced=True)
PIXEL_SIZE = parameter(
    "PIXEL_SIZE", "Output pixel size", "number, optional", "the layer's pixel size",
    "The output pixel size in the extent's CRS units (rendered source).",
    """With `SOURCE=rendered`: the output pixel size in the extent's CRS units. Alone, it resamples
    the layer's own extent. Each output pixel takes the colour drawn for the layer's pixel under its
    centre (a rotated, mirrored or south-up raster's own pixel, as gdalwarp's nearest neighbour
    picks it; one placed by ground control points: of the north-up view QGIS warps it into), nodata
    where its centre is off the layer (where the layer's style resamples, the colour resampled at that centre: what a
    QGIS map draws when the pixel size divides the layer's extent, a map otherwise fitting the layer
    into whole pixels; a style that colours a pixel from its neighbours, such as hillshade, is drawn
    by QGIS on the output grid, as a map at that pixel size shows it; see `EXTENT` for an extent in
    another CRS). Layers without a grid of their
    own (WMS, WMTS, XYZ tiles) need `EXTENT` and `PIXEL_SIZE`, and so does an `EXTENT` in another
    CRS than the layer's (the layer's pixel size is in its own CRS units); without them the run
    stops and asks for them.""", advanced=True)
ALPHA_THRESHOLD = parameter(
    "ALPHA_THRESHOLD", "Alpha threshold", "integer 0–255", "128",
    "Pixels with lower alpha become nodata.",
    """Pixels with lower alpha become nodata. Partly transparent pixels above it are judged by their
    un-premultiplied colour. At 0 no pixel is nodata: a fully transparent pixel, or one holding a
    band's nodata value (NaN and infinity too, read as 0), gets the class of the colour its bands
    hold; a colour a layer's style draws fully transparent (a paletted class, a transparency list)
    is black as QGIS draws it (premultiplied by its alpha), and gets black's class.""", advanced=True)
N_COLORS = parameter(
    "N_COLORS", "Number of colours", "integer 2–65,535", "256",
    "Size of palettes built from the image or sampled from matplotlib.",
    "Size of palettes built from the image or sampled from matplotlib.")
METRIC = parameter(
    "METRIC", "Colour distance", "`rgb` / `cielab` / `ciede2000`", "`rgb`",
    "How the nearest palette colour is chosen.",
    """`rgb`: Euclidean distance in RGB (the seed's method). `cielab`: CIE76 ΔE in CIELAB (sRGB,
    D65). `ciede2000`: CIEDE2000 ΔE (slower; brute force per distinct colour). The result is exact:
    ties go to the lowest palette index.""")
OUTPUT_REPORT = parameter(
    "OUTPUT_REPORT", "Report", "HTML file, optional", "",
    "An HTML report: palette, pixels and area per entry, colour error.",
    """A report, shown in the Processing results viewer and self-contained (images embedded): the
    palette as a grid of numbered swatches marking the entries used, a table of used entries (index,
    colour, label, pixels, area in map units and km² where the CRS is projected, share), a bar chart
    of shares, the original and the result side by side, and the colour error (mean and 95th
    percentile CIE76 ΔE of pixels to their palette colour) with a heat-map thumbnail. Built from the
    same block pass.""")

# -- palettize:quantize -----------------------------------------------------------------------------

QUANTIZE_INTRO = [
    """Replaces every pixel of a raster layer by the index of the nearest colour in a palette and
    writes a single-band indexed raster with the palette as its colour table, on exactly the input's
    grid (size, geotransform, CRS).""",
]
QUANTIZE_PARAMETERS = [
    INPUT,
    parameter(
        "PALETTE", "Palette", "see the text", "`win256`",
        "A fixed palette, one built from the image, or a matplotlib colormap.",
        """Fixed palettes: `win256` (the Windows 256-colour palette of the seed notebook, entry order
        kept), `websafe216`, `vga16` (colour names as labels), `gray256`. Built from the image, with
        `N_COLORS` entries (the whole layer is scanned first, block by block): `exact` (its own
        distinct colours, lossless, by frequency; fails, giving the count, when there are more than
        `N_COLORS`), `frequent` (the most frequent colours: a rendered map's legend colours win over
        its anti-aliasing), `kmeans` (weighted k-means on the image's colours, in the space of
        `METRIC`, deterministic, started from a median cut; needs SciPy), `mediancut`
        (weighted median cut). Matplotlib colormaps: `mpl:viridis`, `mpl:terrain`, … (38 listed; any
        other matplotlib name works as `mpl:<name>` from scripts), sampled at `N_COLORS` colours. The
        dialog's list starts each entry with its group (*Fixed: Windows, 256 colours (win256)*,
        *From the image: k-means (kmeans)*, *Colormap: viridis*)."""),
    parameter(
        "PALETTE_FILE", "Palette file", "file, optional", "",
        "A palette file (CSV, GIMP, ACT, CLR, PAL, QGIS style, a raster with colour table); wins over Palette.",
        """A palette file; wins over `PALETTE`: CSV (`red,green,blue[,label]`, 0–255 integers or 0–1
        floats), GIMP `.gpl`, Adobe `.act`, ESRI `.clr`, QGIS colour map export `.txt`, QGIS `.qml`
        style (paletted, pseudocolour, categorized or graduated), JASC or Windows RIFF `.pal`, Paint.NET
        `.txt` or any raster with a colour table (formats and labels: *Palette files* in the README). A layer given for it (a model's layer
        input) stands for the file it reads, read whole: a filtered layer is refused."""),
    N_COLORS,
    METRIC,
    parameter(
        "CLEANUP", "Edge cleanup", "`none` / `seams` / `sieve`", "`none`",
        "Cleans the edges of anti-aliased or scanned maps.",
        """Edge cleanup for anti-aliased or scanned maps. `none`: the exact nearest colour. `seams`:
        pixels no palette colour represents well (blends of two neighbouring fills, or of a fill and
        an outline) take the class that best explains them among the well represented pixels within 2
        pixels. `sieve`: regions smaller than `MIN_REGION` pixels take the class whose neighbouring
        regions of at least `MIN_REGION` pixels share the longest border with them in total, ties
        going to the lower class (GDAL's sieve filter picks the largest neighbour over the whole raster
        and follows chains of small regions, so its result would depend on where blocks start; where a
        small region has one neighbour, both agree).
        Cleanup only assigns classes present around a pixel; nodata stays nodata; blocks overlap so
        results do not depend on block boundaries."""),
    parameter(
        "DITHER", "Dithering", "`none` / `floyd-steinberg`", "`none`",
        "Floyd–Steinberg error diffusion, for photographs and hillshades.",
        """Floyd–Steinberg error diffusion in the space of `METRIC` (serpentine scan; errors carried
        across blocks, so the result does not depend on block size), for photographs and hillshades.
        Excludes `CLEANUP`."""),
    SOURCE, BANDS, ALPHA_BAND, EXTENT, PIXEL_SIZE, ALPHA_THRESHOLD,
    parameter(
        "SEAM_TOLERANCE", "Seam tolerance (ΔE)", "number, 0 or more", "5.0",
        "Seams: CIELAB ΔE up to which a pixel counts as well represented.",
        "`seams`: CIELAB ΔE up to which a pixel surrounded by its own class counts as well represented.",
        advanced=True),
    parameter(
        "MIN_REGION", "Sieve: minimum region (pixels)", "integer 2–1,000", "10",
        "Sieve: regions smaller than this many pixels are merged.",
        "`sieve`: regions smaller than this many pixels are merged.", advanced=True),
    parameter(
        "CONNECTEDNESS", "Sieve: connectedness", "`4` / `8`", "`4`",
        "Sieve: pixels connect through 4 edges, or 8 edges and corners.",
        """`sieve`: how pixels connect into regions, through their 4 edges or through their 8 edges
        and corners. Scripts may pass the number 4 or 8.""", advanced=True),
    parameter(
        "NODATA_INDEX", "Nodata index", "integer 0–65,535, optional", "unset: outside the palette",
        "The index nodata pixels get, and the output's nodata value; a palette entry there is kept for nodata.",
        """The index transparent and nodata pixels are written as, and the output's nodata value,
        whether or not the input has such pixels. Unset, nodata goes outside the palette (see
        *Indexed raster*). Inside the palette, that entry is kept for nodata: no pixel gets it as its
        colour (the log says so), and its colour table entry is transparent; a palette built from the
        image gets `N_COLORS` − 1 colours around a black entry labelled `nodata` at that index. So 256
        colours with `NODATA_INDEX=0` or `255` are written as Byte even when some pixels are
        transparent. The output is Byte when the index and every palette index fit in 0–255, else
        UInt16. Values above 65,535 are refused, and so is the only entry of a 1-colour
        palette.""", advanced=True),
    parameter(
        "OUTPUT", "Indexed raster", "raster file", "GeoTIFF",
        "The indexed raster (GeoTIFF or any format GDAL writes).",
        """The indexed raster. Byte without nodata when the input is opaque (no alpha band, mask,
        nodata or transparent style, or none that leaves a pixel transparent) and the palette has
        up to 256 colours; otherwise Byte when the palette plus nodata fit in 256 values (nodata
        255), else UInt16 (nodata 65535); `NODATA_INDEX` chooses nodata's index instead. GeoTIFF
        is tiled and DEFLATE-compressed; a temporary output is a GeoTIFF whatever Processing's
        default raster format. Formats without colour tables (e.g. `.xyz`) get the palette
        beside them as `<output>.palette.csv`. A QGIS style (`.qml`) is written beside the output,
        and a raster attribute table where the format keeps one (GeoTIFF, PNG: in
        `<output>.aux.xml`). A GeoPackage (`.gpkg`) is written as a new file: one holding other
        layers is refused, not replaced; it holds UInt16 indices only (GDAL stores a Byte raster with
        a colour table there as colours), so a Byte output there is refused, naming the GeoTIFF."""),
    parameter(
        "OUTPUT_TABLE", "Palette table", "table, optional", "not created",
        "One row per palette entry with its pixels and share.",
        """One row per palette entry: `index`, `red`, `green`, `blue`, `hex`, `label`, `pixels`,
        `share` (of the valid pixels), from the same pass. As `.csv`, `.xlsx`, `.ods`, `.gpkg`,
        `.geojson`, `.gml` or `.tab`; other formats QGIS offers hold no plain table (`.txt` is
        Geoconcept to QGIS; a shapefile's is a `.dbf` alone; `.fgb` drops rows without geometry, and
        `.sqlite` does not list them) and are refused. Saved into a GeoPackage (the dialog's *Save
        to GeoPackage*, `ogr:dbname='x.gpkg' table="legend"`), it is added to it, but not to the one
        *Indexed raster* replaces; a GeoPackage of other layers given by its path alone is refused,
        since QGIS would write the table as a new file in its place."""),
    OUTPUT_REPORT,
]
#: The dialog's palette list, one label per PALETTE option, grouped by kind in the enum's order:
#: fixed palettes, palettes built from the image, matplotlib colormaps. QGIS's list has no
#: separators, so each label starts with its group; the option string scripts pass follows in
#: brackets (a colormap's is ``mpl:`` and its name). The options' order and indices never change
#: (models saved with QGIS 3.22 store indices).
PALETTE_GROUPS = (
    ("Fixed", (("win256", "Windows, 256 colours"), ("websafe216", "web-safe, 216 colours"),
               ("vga16", "VGA, 16 colours"), ("gray256", "greys, 256 levels"))),
    ("From the image", (("exact", "exact colours"), ("frequent", "most frequent"),
                        ("kmeans", "k-means"), ("mediancut", "median cut"))),
)
COLORMAP_GROUP = "Colormap"


def palette_label(option):
    """What the dialog's palette list shows for PALETTE option ``option``."""
    if option.startswith("mpl:"):
        return "{}: {}".format(COLORMAP_GROUP, option[len("mpl:"):])
    for group, entries in PALETTE_GROUPS:
        for name, words in entries:
            if name == option:
                return "{}: {} ({})".format(group, words, name)
    raise KeyError(option)


def markdown_palette_options():
    """The README's list of PALETTE options as the dialog shows them."""
    lines = ["| `PALETTE` | In the dialog |", "|----|----|"]
    for group, entries in PALETTE_GROUPS:
        lines += ["| `{}` | {} |".format(name, palette_label(name)) for name, _ in entries]
    lines.append("| `mpl:viridis`, `mpl:terrain`, … | {}, {}, … |".format(
        palette_label("mpl:viridis"), palette_label("mpl:terrain")))
    return "\n".join(lines)


QUANTIZE_EXAMPLE = ('processing.run("palettize:quantize", {"INPUT": "map.tif", "PALETTE": "win256", '
                    '"OUTPUT": "classes.tif"})')

# -- palettize:extractpalette -----------------------------------------------------------------------

EXTRACT_INTRO = [
    """Builds a palette from the colours of a raster layer and saves it as a palette file that
    *Quantize raster to palette* reads (`PALETTE_FILE`), plus a table of its entries, so that a model
    can chain extract → quantize and you can inspect the legend in the attribute table.""",
]
EXTRACT_PARAMETERS = [
    INPUT,
    parameter(
        "METHOD", "Method", "`exact` / `frequent` / `kmeans` / `mediancut`", "`frequent`",
        "How the palette is built from the image's colours.",
        """`exact` (the image's own distinct colours, lossless, by frequency; fails when there are more
        than `N_COLORS`), `frequent` (the most frequent colours: the legend colours of a rendered map
        win over its anti-aliasing), `kmeans` (weighted k-means on the image's colours, in the space of
        `METRIC`, deterministic; needs SciPy) or `mediancut`."""),
    parameter("N_COLORS", "Number of colours", "integer 2–65,535", "256", "Palette size.", "Palette size."),
    parameter(
        "METRIC", "Colour distance", "`rgb` / `cielab` / `ciede2000`", "`rgb`",
        "Space of k-means and median cut, and of the pixel counts.",
        "Space of k-means and median cut, and of the pixel counts, as for `palettize:quantize`."),
    SOURCE, BANDS, ALPHA_BAND, EXTENT, PIXEL_SIZE, ALPHA_THRESHOLD,
    parameter(
        "OUTPUT_PALETTE", "Palette file", "file", "",
        "The palette: .csv, .gpl, .act, .clr, .qml or .txt by extension.",
        "The palette: `.csv`, `.gpl`, `.act`, `.clr`, `.qml` or `.txt` by extension. A `.qml` that would be the "
        "input's own style (`map.qml` beside `map.tif`) is refused: QGIS would draw the input with it."),
    parameter(
        "OUTPUT_TABLE", "Palette table", "table, optional", "not created",
        "One row per palette entry with its pixels and share.",
        """One row per entry: `index`, `red`, `green`, `blue`, `hex`, `label`, `pixels` (the pixels
        quantization assigns to the entry under `METRIC`), `share` (of the valid pixels). As `.csv`,
        `.xlsx`, `.ods`, `.gpkg`, `.geojson`, `.gml` or `.tab`; other formats QGIS offers hold no
        plain table (`.txt` is Geoconcept to QGIS; a shapefile's is a `.dbf` alone; `.fgb` drops rows
        without geometry, and `.sqlite` does not list them) and are refused."""),
    parameter(
        "OUTPUT_REPORT", "Report", "HTML file, optional", "",
        "An HTML report for quantizing with the extracted palette.",
        "The same report as for `palettize:quantize`, for quantizing with the extracted palette, built "
        "from the scan itself."),
]
EXTRACT_EXAMPLE = ('processing.run("palettize:extractpalette", {"INPUT": "map.tif", "METHOD": "frequent", '
                   '"N_COLORS": 16, "OUTPUT_PALETTE": "legend.csv", "OUTPUT_TABLE": "TEMPORARY_OUTPUT"})')


def find(parameters, name):
    """The row describing parameter ``name``."""
    for row in parameters:
        if name in row.ids:
            return row
    raise KeyError(name)


def label(parameters, name):
    """The dialog label of parameter ``name`` (Green band and Blue band share the Red band's row)."""
    row = find(parameters, name)
    if row.ids[0] == name:
        return row.label
    return {"GREEN_BAND": "Green band", "BLUE_BAND": "Blue band"}[name]


def to_html(text):
    """The little markup as HTML, on one line."""
    text = html.escape(" ".join(text.split()), quote=False)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)
    return re.sub(r"\*([^*]+)\*", r"<i>\1</i>", text)


def short_help(intro, parameters, example):
    """The help panel: one line per paragraph (QGIS 3.22 breaks paragraphs at newlines)."""
    paragraphs = [to_html(p) for p in intro]
    for row in parameters:
        names = ", ".join(row.ids)
        paragraphs.append("<b>{}</b> ({}){}: {}".format(
            html.escape(row.label), names, " <i>advanced</i>" if row.advanced else "", to_html(row.text)))
    paragraphs.append("Example: <code>{}</code>".format(html.escape(example, quote=False)))
    return "\n".join(paragraphs)


def markdown_table(parameters):
    """The README's parameter reference table."""
    lines = ["| Id | In the dialog | Type | Default | Meaning |", "|----|----|----|----|----|"]
    for row in parameters:
        shown = row.label if len(row.ids) == 1 else ", ".join(label(parameters, name) for name in row.ids)
        if row.advanced:
            shown += " (advanced)"
        lines.append("| {} | {} | {} | {} | {} |".format(
            ", ".join("`{}`".format(name) for name in row.ids), shown, row.kind, row.default,
            " ".join(row.text.split())))
    return "\n".join(lines)
