"""QGIS entry points: register the Processing provider; never touch iface outside initGui."""

from qgis.core import QgsApplication


class PalettizePlugin:
    def __init__(self, iface=None):
        self.iface = iface  # None under qgis_process
        self.provider = None

    def initProcessing(self):
        from .algorithms.provider import PalettizeProvider

        self.provider = PalettizeProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):
        self.initProcessing()

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
