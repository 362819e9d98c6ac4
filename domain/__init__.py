"""The nnjobs domain, between the HTTP edge (``service``) and the store (``registry``).

Submitting jobs (:mod:`domain.jobs`) and sweeps (:mod:`domain.sweeps`), turning a request's
data into arrays (:mod:`domain.inputs`, :mod:`domain.tables`), predicting
(:mod:`domain.prediction`, :mod:`domain.cache`), and storing CSV datasets
(:mod:`domain.datasets`). It knows nothing of HTTP: what it refuses it raises as the
plain exceptions of :mod:`domain.errors`, which the edge renders.
"""
