"""Models in other runtimes' formats: an ONNX graph, an MLflow model, and the parity
certificate that compares the graph with nn's own predictions.

It imports nn, NumPy, ``onnx`` and ``onnxruntime``; nothing of the service, the store or
the worker, which use it.
"""
