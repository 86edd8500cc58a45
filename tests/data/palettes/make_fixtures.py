"""Regenerate the QGIS-made fixtures in this folder with QGIS 3.22, and the GeoTIFF with GDAL.

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/data/palettes/make_fixtures.py

Run once and commit the files; geology.gpl, gimp_layout.gpl and landcover_esri.clr are written by hand.
"""

import os
import tempfile

import numpy as np
from osgeo import gdal
from qgis.core import (QgsApplication, QgsCategorizedSymbolRenderer, QgsColorRampShader, QgsGradientColorRamp,
                       QgsMapLayer, QgsPalettedRasterRenderer, QgsRasterLayer, QgsRasterRendererUtils, QgsRasterShader,
                       QgsRendererCategory, QgsSingleBandPseudoColorRenderer, QgsSymbol, QgsVectorLayer)
from qgis.PyQt.QtGui import QColor

HERE = os.path.dirname(os.path.abspath(__file__))
GEOLOGY = [("Gr", (230, 120, 90), "Granite"), ("Sc", (90, 160, 80), "Schist & gneiss"),
           ("Lo", (250, 240, 180), "Löss"), ("Ba", (40, 40, 60), "Basalt <dykes>")]


def write_colour_table_tif():
    """4 x 4 Byte GeoTIFF with a 5-entry colour table (black inside it); GTiff pads it to 256 entries."""
    dataset = gdal.GetDriverByName("GTiff").Create(os.path.join(HERE, "colour_table.tif"), 4, 4, 1, gdal.GDT_Byte)
    dataset.SetGeoTransform((500000.0, 25.0, 0.0, 7500000.0, 0.0, -25.0))
    dataset.GetRasterBand(1).WriteArray((np.arange(16).reshape(4, 4) % 5).astype(np.uint8))
    table = gdal.ColorTable()
    for index, rgb in enumerate([(230, 120, 90), (0, 0, 0), (90, 160, 80), (250, 240, 180), (40, 40, 60)]):
        table.SetColorEntry(index, rgb + (255,))
    dataset.GetRasterBand(1).SetRasterColorTable(table)
    dataset = None


def write_discrete_classes_export():
    """What "Export Color Map to File" writes for 4 equal-interval discrete classes: the last
    class's value is 'inf'."""
    ramp = QgsColorRampShader(0, 100, QgsGradientColorRamp(QColor(0, 0, 0), QColor(255, 255, 255)),
                              QgsColorRampShader.Discrete, QgsColorRampShader.EqualInterval)
    ramp.classifyColorRamp(4)
    QgsRasterRendererUtils.saveColorMapFile(os.path.join(HERE, "qgis_discrete_classes_export.txt"),
                                            ramp.colorRampItemList(), QgsColorRampShader.Discrete)


def main():
    write_colour_table_tif()
    os.environ["QGIS_CUSTOM_CONFIG_PATH"] = tempfile.mkdtemp()
    app = QgsApplication([], False)
    app.initQgis()
    scratch = tempfile.mkdtemp()
    raster = os.path.join(scratch, "r.tif")
    dataset = gdal.GetDriverByName("GTiff").Create(raster, 4, 4, 1, gdal.GDT_Byte)
    dataset.SetGeoTransform((500000.0, 25.0, 0.0, 7500000.0, 0.0, -25.0))
    dataset.GetRasterBand(1).WriteArray(np.arange(16, dtype=np.uint8).reshape(4, 4) % 4)
    dataset = None
    layer = QgsRasterLayer(raster, "r")

    classes = [QgsPalettedRasterRenderer.Class(value, QColor(*rgb), label)
               for value, (_, rgb, label) in zip((1, 2, 5, 7), GEOLOGY)]
    classes[3].label = ""  # QGIS writes no label attribute then
    layer.setRenderer(QgsPalettedRasterRenderer(layer.dataProvider(), 1, classes))
    layer.saveNamedStyle(os.path.join(HERE, "paletted_qgis322.qml"), categories=QgsMapLayer.Symbology)
    with open(os.path.join(HERE, "qgis_paletted_export.clr"), "w", encoding="utf-8") as f:
        f.write(QgsPalettedRasterRenderer.classDataToString(classes))  # what "Export Color Map" writes

    ramp = QgsColorRampShader(0, 100)
    ramp.setColorRampType(QgsColorRampShader.Discrete)
    ramp.setColorRampItemList([
        QgsColorRampShader.ColorRampItem(10, QColor(10, 20, 30), "low"),
        QgsColorRampShader.ColorRampItem(50, QColor(200, 100, 50, 200), "mid, wet"),
        QgsColorRampShader.ColorRampItem(100, QColor(255, 255, 0), ""),
    ])
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(ramp)
    layer.setRenderer(QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, shader))
    layer.saveNamedStyle(os.path.join(HERE, "pseudocolour_qgis322.qml"), categories=QgsMapLayer.Symbology)
    QgsRasterRendererUtils.saveColorMapFile(os.path.join(HERE, "qgis_colour_map_export.txt"),
                                            ramp.colorRampItemList(), QgsColorRampShader.Discrete)
    write_discrete_classes_export()

    vector = QgsVectorLayer("Polygon?crs=EPSG:32635&field=unit:string", "geology", "memory")
    categories = []
    for value, rgb, label in GEOLOGY:
        symbol = QgsSymbol.defaultSymbol(vector.geometryType())
        symbol.setColor(QColor(*rgb))
        categories.append(QgsRendererCategory(value, symbol, label))
    vector.setRenderer(QgsCategorizedSymbolRenderer("unit", categories))
    vector.saveNamedStyle(os.path.join(HERE, "categorized_qgis322.qml"), categories=QgsMapLayer.Symbology)
    app.exitQgis()


if __name__ == "__main__":
    main()
