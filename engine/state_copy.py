"""Copies of model and optimizer state (nested dicts and lists of tensors) that later training cannot
change. ``copy.deepcopy`` does the same through each tensor's Python ``__deepcopy__`` and a memo,
holding the GIL all the while: for a whole network's AdamW state (hundreds of tensors) long enough to
pause the window (bench/ui_during_jobs.py). Here each tensor is one C-level clone."""

from __future__ import annotations

import copy

import torch


def cpu_state(module: torch.nn.Module) -> dict:
    """``module``'s weights and buffers copied to the CPU (what a restore puts back later)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def clone_state(obj):
    """``obj`` with every tensor cloned (detached, same device and dtype) and every dict, list and tuple
    rebuilt; anything else is deep-copied (numbers, strings, None: themselves)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return type(obj)((k, clone_state(v)) for k, v in obj.items())
    if isinstance(obj, list):
        return [clone_state(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(clone_state(v) for v in obj)
    return copy.deepcopy(obj)
