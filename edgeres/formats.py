"""The export formats, declared once: name -> "module:class" of its exporter. Torch-free, so that the CLI's
choices and the pipeline's config check read it without loading an exporter; adding a format is adding its
exporter module (and, for its files, a runtime module in runtimes/) and a line here."""

EXPORTERS = {
    "onnx": "edgeres.export.onnx:OnnxExporter",
    "tflite": "edgeres.export.tflite:TfliteExporter",
    "pte": "edgeres.export.pte:PteExporter",
}
