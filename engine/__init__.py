"""Fovea engine: datasets, kernels, models, training and inference. Never imports Qt."""

import os

# Busy-waiting OpenMP workers steal the cores the UI thread and the next job need between
# short torch calls (a warm drop took 2x longer); passive waiting costs nothing measurable.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
