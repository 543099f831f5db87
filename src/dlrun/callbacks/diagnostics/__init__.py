"""The diagnostics callback (callback.py) and what it measures: per-layer norms (layers.py), dead and
saturated units (activations.py), the BPTT picture (bptt.py), histograms (histograms.py) and the
findings it warns about (findings.py)."""

from dlrun.callbacks.diagnostics.callback import Diagnostics

__all__ = ["Diagnostics"]
