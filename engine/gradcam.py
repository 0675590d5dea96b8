"""Grad-CAM: which parts of an image made the model choose a class, and the overlay that shows it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from engine.config import DEFAULT_ARCH
from engine.jobs import check
from engine.models import AdaptiveConcatPool2d, center_crop_size, normalisation, resize_center_crop, to_tensor
from engine.networks import depth_grids, pool_depth
from engine.predictions import _inference_net, _resolve_device
from engine.sources import load_source


@dataclass
class GradCam:
    heatmap: np.ndarray  # (H, W) float32 in [0, 1], the original image's shape; 0 outside the crop
    class_index: int
    class_name: str
    prob: float
    box: tuple[int, int, int, int]  # the crop the model saw, in image pixels: left, top, right, bottom


def _cam_parts(model) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(body → feature map, head → logits) for FoveaModels and the plain backbones."""
    if getattr(getattr(model, "meta", None), "depths", ()):
        body = _DepthsBody(model.body, model.meta.depths, getattr(model.meta, "grid", 0))
        return body, _DepthsHead(body, model.head)
    if hasattr(model, "body") and hasattr(model, "head"):
        return model.body, model.head
    if hasattr(model, "forward_features") and hasattr(model, "forward_head"):  # timm networks

        class _Features(torch.nn.Module):
            def __init__(self, net):
                super().__init__()
                self.net = net

            def forward(self, x):
                return self.net.forward_features(x)

        class _Head(_Features):
            def forward(self, x):
                return self.net.forward_head(x)

        return _Features(model), _Head(model)
    if hasattr(model, "layer4") and hasattr(model, "fc"):  # torchvision ResNets
        body = torch.nn.Sequential(*list(model.children())[:-2])
        return body, torch.nn.Sequential(model.avgpool, torch.nn.Flatten(1), model.fc)
    raise ValueError(f"Grad-CAM does not know where the feature map of {type(model).__name__} is")


class _DepthsBody(torch.nn.Module):
    """A multi-depth model's body: returns the last feature map (the one explained) and keeps the
    pooled outputs of the earlier depths for the head (constants for the gradient)."""

    def __init__(self, body, depths, grid: int = 0):
        super().__init__()
        self.body, self.depths, self.grids, self.earlier = body, tuple(depths), depth_grids(depths, grid), []

    def forward(self, x):
        layers = list(self.body.children())
        self.earlier = []
        for i, layer in enumerate(layers):
            x = layer(x)
            if i in self.depths and i < len(layers) - 1:
                self.earlier.append(pool_depth(x, self.grids[i]).float())
        return x


class _DepthsHead(torch.nn.Module):
    def __init__(self, body: _DepthsBody, head):
        super().__init__()
        self.source, self.head = [body], head  # a list: not registered as a submodule twice

    def forward(self, fmap):
        body = self.source[0]
        last = [AdaptiveConcatPool2d()(fmap)] if len(list(body.body.children())) - 1 in body.depths else []
        return self.head[1:](torch.cat(body.earlier + last, dim=1))


def grad_cam(
    model, image, class_index: int | None = None, device=None, size: int | None = None, mean=None, std=None
) -> GradCam:
    """Which parts of the image made the model choose a class (Grad-CAM on the last feature map).

    image: path, URL, PIL image or HWC array. class_index: None = the predicted class.
    size/mean/std default to the model's meta (needed for plain backbones without one).
    """
    meta = getattr(model, "meta", None)
    size = size or (meta.image_size if meta else 224)
    mean = mean or (meta.mean if meta else normalisation(DEFAULT_ARCH)[0])
    std = std or (meta.std if meta else normalisation(DEFAULT_ARCH)[1])
    classes = list(meta.classes) if meta else []
    im, _ = load_source(image)
    w, h = im.size
    crop = resize_center_crop(im, size)
    dev = _resolve_device(model, device)
    _cam_parts(model)  # says clearly when the model has no feature map to explain
    was_training = model.training
    try:
        body, head = _cam_parts(_inference_net(model, dev))  # on a CPU the folded copy: the model stays as it is
        x = to_tensor([crop], mean, std).to(dev).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            feats = body(x).float()
        feats = feats.detach().requires_grad_(True)
        with torch.enable_grad():
            logits = head(feats).float()
            probs = torch.softmax(logits, 1)[0]
            c = int(probs.argmax()) if class_index is None else int(class_index)
            # autograd.grad, not backward(): no .grad is left on the model's parameters
            (grads,) = torch.autograd.grad(logits[0, c], feats)
        weights = grads[0].mean(dim=(1, 2))
        cam = torch.einsum("k,khw->hw", weights, feats[0].detach())
        prob = float(probs[c].detach())
    finally:
        if was_training:
            model.train()
    cam = cam.cpu().numpy().astype(np.float32)
    pos = np.maximum(cam, 0)
    if pos.max() > 0:
        cam = pos / pos.max()
    else:  # no positive evidence anywhere: show relative evidence instead of a blank map
        span = cam.max() - cam.min()
        cam = (cam - cam.min()) / span if span > 0 else np.zeros_like(cam)
    return GradCam(
        _cam_to_image(cam, w, h, size), c, classes[c] if c < len(classes) else str(c), prob, _crop_box(w, h, size)
    )


def _crop_box(w: int, h: int, size: int) -> tuple[int, int, int, int]:
    nw, nh = center_crop_size(w, h, size)
    left, top = (nw - size) // 2, (nh - size) // 2
    sx, sy = w / nw, h / nh
    return (round(left * sx), round(top * sy), round((left + size) * sx), round((top + size) * sy))


def _cam_to_image(cam: np.ndarray, w: int, h: int, size: int) -> np.ndarray:
    """Upsample the feature-map CAM onto the crop, and place the crop in the image's frame."""
    import cv2

    nw, nh = center_crop_size(w, h, size)
    left, top = (nw - size) // 2, (nh - size) // 2
    full = np.zeros((nh, nw), dtype=np.float32)
    full[top : top + size, left : left + size] = cv2.resize(cam, (size, size), interpolation=cv2.INTER_CUBIC)
    out = cv2.resize(full, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(out, 0.0, 1.0)


def gradcam_job(model, image, class_index: int | None = None, stop=None, device=None):
    """Job wrapper of grad_cam (a few hundred ms on a CPU: keep it off the UI thread)."""
    check(stop)
    yield {"type": "gradcam", "class_index": -1 if class_index is None else int(class_index)}
    return grad_cam(model, image, class_index, device)


def explain_job(
    model, image, class_index: int | None = None, cam: bool = True, max_side: int = 640, stop=None, device=None
):
    """Job: a display-sized copy of an image and, with ``cam``, its Grad-CAM overlay.

    Returns {'image': HWC uint8, 'overlay': HWC uint8 or None, 'class_index', 'class_name',
    'prob', 'box' (the crop the model saw, in display pixels)}. Outside that crop the overlay
    is dimmed: the model never saw it.
    """
    import cv2

    check(stop)
    yield {"type": "explain"}
    im, _ = load_source(image)
    shown = im.copy()
    shown.thumbnail((max_side, max_side), Image.BILINEAR)
    rgb = np.asarray(shown, dtype=np.uint8).copy()
    out = {"image": rgb, "overlay": None, "class_index": None, "class_name": "", "prob": float("nan"), "box": None}
    if not cam:
        return out
    check(stop)
    g = grad_cam(model, im, class_index, device)
    h, w = rgb.shape[:2]
    heat = cv2.resize(g.heatmap, (w, h), interpolation=cv2.INTER_AREA)
    overlay = overlay_heatmap(rgb, heat)
    sx, sy = w / im.size[0], h / im.size[1]
    left, top, right, bottom = g.box
    box = (round(left * sx), round(top * sy), round(right * sx), round(bottom * sy))
    outside = np.ones((h, w), dtype=bool)
    outside[box[1] : box[3], box[0] : box[2]] = False
    overlay[outside] = (overlay[outside].astype(np.float32) * 0.45 + 40).astype(np.uint8)
    out.update(overlay=overlay, class_index=g.class_index, class_name=g.class_name, prob=g.prob, box=box)
    return out


def overlay_heatmap(rgb: np.ndarray, heatmap: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend a [0, 1] heatmap (turbo colours, hot = important) over an HWC uint8 image."""
    import cv2

    heat = cv2.applyColorMap((np.clip(heatmap, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_TURBO)
    heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB).astype(np.float32)
    if heat.shape[:2] != rgb.shape[:2]:
        heat = cv2.resize(heat, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
    a = alpha * (0.35 + 0.65 * np.clip(heatmap, 0, 1))[..., None]  # cold regions stay readable
    if a.shape[:2] != rgb.shape[:2]:
        a = cv2.resize(a[..., 0], (rgb.shape[1], rgb.shape[0]))[..., None]
    return np.clip(rgb.astype(np.float32) * (1 - a) + heat * a, 0, 255).astype(np.uint8)
