"""Fovea's Qt views over engine jobs."""
