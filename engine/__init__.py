"""Fovea engine: datasets, kernels, models, training and inference. Never imports Qt."""
