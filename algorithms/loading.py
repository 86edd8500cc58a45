"""Loading the raster output into the project: resolved once, registered by the run that wrote it.

QGIS registers a destination for loading as soon as ``parameterAsOutputLayer`` reads it from a
value that names a project (the toolbox dialog, ``processing.runAndLoadResults``), and turns
``TEMPORARY_OUTPUT`` into a new temporary name on every call. Palettize checks its settings on the
main thread (``checkParameterValues``, ``prepareAlgorithm``) while the toolbox runs
``processAlgorithm`` in a ``QgsProcessingAlgRunnerTask``: a worker thread with a context of its
own, whose load list ``QgsProcessingContext.takeResultsFrom`` hands to the dialog's context
afterwards (QGIS 3.22 replaces the dialog's list with it, later versions merge the two). So:

- ``resolve_output`` reads the path once, from a copy of the value without its project, so that
  checking registers nothing and a failed run lists no made-up output;
- ``load_on_completion`` registers that same path, through QGIS's own ``parameterAsOutputLayer``
  (its layer name, output name and type hint), in the context the run writes in, after the file
  is complete, and gives it the palette's style post-processor.
"""

from qgis.core import QgsProcessingOutputLayerDefinition, QgsProperty


class OutputRequest:
    """Where a destination parameter writes and whether the caller asked to load it."""

    def __init__(self, name, path, definition):
        self.name = name
        self.path = path
        self._definition = definition  # QgsProcessingOutputLayerDefinition naming a project, or None

    @property
    def wants_loading(self):
        return self._definition is not None


def resolve_output(algorithm, parameters, name, context):
    """The destination ``name``'s path, resolved once, without registering it for loading."""
    value = parameters.get(name)
    definition = None
    if isinstance(value, QgsProcessingOutputLayerDefinition) and value.destinationProject is not None:
        definition = QgsProcessingOutputLayerDefinition(value)
        unloaded = QgsProcessingOutputLayerDefinition(value)
        unloaded.destinationProject = None
        parameters = dict(parameters, **{name: unloaded})
    path = algorithm.parameterAsOutputLayer(parameters, name, context)
    if definition is not None:
        definition.sink = QgsProperty.fromValue(path)  # the resolved name, not TEMPORARY_OUTPUT again
    return OutputRequest(name, path, definition)


def load_on_completion(algorithm, request, context, post_processor):
    """Register the written output for loading in ``context`` (the run's own), styled by the
    post-processor ``post_processor()`` makes (only then: a run that loads nothing keeps none);
    nothing when the caller did not ask for the layer to be loaded."""
    if not request.wants_loading:
        return
    path = algorithm.parameterAsOutputLayer({request.name: request._definition}, request.name, context)
    if context.willLoadLayerOnCompletion(path):
        context.layerToLoadOnCompletionDetails(path).setPostProcessor(post_processor())
