"""Image comparison for the notebooks: pure compositing functions plus their ipywidgets wiring.

SPSR's claim (Ma et al., CVPR 2020, Sec. 1 and Figs. 1/6) is about *structure*: thin edges and
textures that PSNR-oriented and GAN methods blur or distort.  Such differences are easiest to see by
wiping or blending between two images on the same pixel grid and zooming into a region, so the
notebooks use one slider widget for every comparison (SR vs HR, SR gradient map vs HR gradient map).

The compositing is pure numpy on HxWx3 arrays (uint8 in [0,255] or float in [0,1]) so it can be
unit-tested without a kernel; :func:`compare_slider` only wires those functions to ipywidgets, which
is imported lazily (``import spsr_lib`` stays light).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from spsr_lib.errors import SPSRError

__all__ = [
    "STORED_NOTE",
    "as_image",
    "to_float",
    "to_uint8",
    "wipe",
    "blend",
    "crop_box",
    "crop_zoom",
    "diff_heatmap",
    "encode_png",
    "CompareSlider",
    "compare_slider",
]

# the line every slider of the course shows above itself (notebook readers open the file without a kernel)
STORED_NOTE = ("*The slider below shows a stored picture; it moves, and the pickers change the image, once this "
               "cell has run in a live kernel (Run ▸ Run All Cells). The static figure under it shows the same "
               "images side by side for readers without a kernel.*")


# --------------------------------------------------------------------------------------------------
# conversions: every function accepts uint8 [0,255] or float [0,1] and answers in the input's kind
# --------------------------------------------------------------------------------------------------
def as_image(x: Any, vmax: float = 1.0) -> np.ndarray:
    """HxWx3 float32 in [0,1] from a tensor (1x3xHxW or 3xHxW) or array, divided by ``vmax``.

    Gradient maps (Sec. 3.1: sqrt(dx^2 + dy^2) per channel) reach sqrt(2) and are mostly small, so
    showing them with ``vmax`` below 1 brightens thin edges without changing which pixels are bright.
    """
    if hasattr(x, "detach"):  # a torch tensor; duck-typed so this module never imports torch
        x = x.detach().float().cpu().numpy()
    arr = np.asarray(x)
    arr = arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)
    if arr.ndim == 4:
        if arr.shape[0] != 1:
            raise SPSRError(f"as_image: expected a single image, got a batch of shape {arr.shape}; index it first")
        arr = arr[0]
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = arr.transpose(1, 2, 0)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    return to_float(arr / float(vmax))


def _check_image(img: np.ndarray, name: str = "image") -> np.ndarray:
    arr = np.asarray(img)
    if arr.ndim == 2:  # grayscale: show it as RGB so every composite has 3 channels
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise SPSRError(f"{name}: expected an HxWx3 RGB array, got shape {arr.shape}; "
                        "convert tensors with image.permute(1, 2, 0).numpy() first")
    return arr


def to_float(img: np.ndarray) -> np.ndarray:
    """HxWx3 float32 in [0,1] from a uint8 or float image (floats are clipped, not rescaled)."""
    arr = _check_image(img)
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    return np.clip(arr.astype(np.float32), 0.0, 1.0)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """HxWx3 uint8, rounding a float [0,1] image the way the official ``tensor2img`` does."""
    arr = _check_image(img)
    if arr.dtype == np.uint8:
        return arr
    return (np.clip(arr.astype(np.float32), 0.0, 1.0) * 255.0).round().astype(np.uint8)


def _like(result: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Return a float [0,1] ``result`` in the dtype family of ``reference``."""
    return to_uint8(result) if reference.dtype == np.uint8 else result.astype(np.float32)


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = _check_image(a, "first image"), _check_image(b, "second image")
    if a.shape != b.shape:
        raise SPSRError(f"cannot compare images of shapes {a.shape} and {b.shape}; "
                        "resize or crop them to the same size first (e.g. SR and HR of one scene)")
    return a, b


# --------------------------------------------------------------------------------------------------
# pure compositing
# --------------------------------------------------------------------------------------------------
def wipe(a: np.ndarray, b: np.ndarray, position: float, vertical: bool = False) -> np.ndarray:
    """Show ``a`` before the split line and ``b`` after it.

    ``position`` in [0,1] is where the line sits: 0 shows only ``b``, 1 only ``a``.  With
    ``vertical=False`` the line is vertical and moves left to right (``a`` on the left, the first
    ``round(position * W)`` columns); with ``vertical=True`` it is horizontal and moves top to
    bottom (``a`` on top).  Pixels are copied, never mixed, so both halves stay exact.
    """
    a, b = _pair(a, b)
    if a.dtype != b.dtype:
        a, b = to_float(a), to_float(b)
    position = float(np.clip(position, 0.0, 1.0))
    axis = 0 if vertical else 1
    split = int(round(position * a.shape[axis]))
    out = b.copy()
    if vertical:
        out[:split] = a[:split]
    else:
        out[:, :split] = a[:, :split]
    return out


def blend(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    """Cross-fade ``(1 - alpha) * a + alpha * b``; alpha 0 gives ``a``, 1 gives ``b``.

    Mixing is done in float; a uint8 ``a`` gives a rounded uint8 result.
    """
    a, b = _pair(a, b)
    alpha = float(np.clip(alpha, 0.0, 1.0))
    mixed = (1.0 - alpha) * to_float(a) + alpha * to_float(b)
    return _like(mixed, a)


def crop_box(shape: Sequence[int], center: Sequence[float], size: int | Sequence[int]) -> tuple[int, int, int, int]:
    """The ``(top, left, height, width)`` window of ``size`` around ``center = (row, col)``.

    The window is shifted (not shrunk) to stay inside the image, so every crop of one size has the
    same shape and crops of SR and HR at the same center line up pixel for pixel.
    """
    h, w = int(shape[0]), int(shape[1])
    ch, cw = (size, size) if np.isscalar(size) else size
    ch, cw = int(min(max(1, ch), h)), int(min(max(1, cw), w))
    top = int(round(center[0] - ch / 2))
    left = int(round(center[1] - cw / 2))
    top = min(max(0, top), h - ch)
    left = min(max(0, left), w - cw)
    return top, left, ch, cw


def crop_zoom(img: np.ndarray, center: Sequence[float], size: int | Sequence[int], zoom: int = 1) -> np.ndarray:
    """Crop a ``size`` window around ``center = (row, col)`` and enlarge it ``zoom`` times.

    Enlarging is nearest-neighbour (each pixel becomes a ``zoom x zoom`` block) so that the crop
    shows the pixels the network produced, not an interpolation of them.
    """
    arr = _check_image(img)
    zoom = int(zoom)
    if zoom < 1:
        raise SPSRError(f"crop_zoom: zoom must be an integer >= 1, got {zoom}")
    top, left, ch, cw = crop_box(arr.shape, center, size)
    crop = arr[top:top + ch, left:left + cw]
    if zoom > 1:
        crop = np.repeat(np.repeat(crop, zoom, axis=0), zoom, axis=1)
    return np.ascontiguousarray(crop)


def diff_heatmap(a: np.ndarray, b: np.ndarray, scale: float | None = None) -> np.ndarray:
    """Per-pixel ``|a - b|`` (mean over RGB, in [0,1] units) as a black-red-yellow-white uint8 image.

    ``scale`` is the difference shown as white; ``None`` uses the largest difference in the pair.
    Pass the same ``scale`` to compare several methods against one reference on one colour scale.
    The colour ramp is matplotlib's "hot", computed here so no plotting library is needed.
    """
    a, b = _pair(a, b)
    diff = np.abs(to_float(a) - to_float(b)).mean(axis=-1)
    if scale is None:
        scale = float(diff.max())
    t = np.clip(diff / scale, 0.0, 1.0) if scale > 0 else np.zeros_like(diff)
    rgb = np.stack([np.clip(3 * t, 0, 1), np.clip(3 * t - 1, 0, 1), np.clip(3 * t - 2, 0, 1)], axis=-1)
    return to_uint8(rgb)


def encode_png(img: np.ndarray) -> bytes:
    """PNG bytes of an HxWx3 image (what an ``ipywidgets.Image`` displays)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(to_uint8(img)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------------
# ipywidgets wiring
# --------------------------------------------------------------------------------------------------
class CompareSlider:
    """A wipe/blend comparison of two images picked from a set, with a zoom-crop control.

    Controls: ``scene`` (picks the image set, only shown when there are several), ``left`` and
    ``right`` (which two versions to compare), ``mode`` (wipe or blend), ``position`` (the split
    line or blend weight), ``zoom`` (1 = whole image) and ``center_x`` / ``center_y`` (the zoom
    region, as fractions of width and height).  ``view`` is the ``ipywidgets.Image`` showing the
    result and ``widget`` the box to display.  :meth:`composite` gives the shown array, so tests
    and static figures can use exactly what the widget shows.
    """

    def __init__(self, scenes: Mapping[str, Mapping[str, np.ndarray]], left: str | None = None,
                 right: str | None = None, mode: str = "wipe", position: float = 0.5,
                 vertical: bool = False, zoom: int = 1, max_zoom: int = 8, width: int | None = None):
        import ipywidgets as W

        if not scenes or any(not imgs for imgs in scenes.values()):
            raise SPSRError("compare_slider: give at least one image, e.g. {'SR': sr, 'HR': hr}")
        self.scenes = {s: {k: _check_image(v, f"{s}/{k}") for k, v in imgs.items()} for s, imgs in scenes.items()}
        self.vertical = vertical
        self._busy = False
        first = next(iter(self.scenes.values()))
        names = list(first)
        left = left if left is not None else names[0]
        right = right if right is not None else names[min(1, len(names) - 1)]
        for n in (left, right):
            if n not in first:
                raise SPSRError(f"compare_slider: no image named {n!r}; available: {', '.join(names)}")
        if mode not in ("wipe", "blend"):
            raise SPSRError(f"compare_slider: mode must be 'wipe' or 'blend', got {mode!r}")

        style = {"description_width": "initial"}
        self.scene = W.Dropdown(options=list(self.scenes), description="image", style=style)
        self.left = W.Dropdown(options=names, value=left, description="left / A", style=style)
        self.right = W.Dropdown(options=names, value=right, description="right / B", style=style)
        self.mode = W.ToggleButtons(options=["wipe", "blend"], value=mode, description="mode", style=style)
        self.position = W.FloatSlider(value=position, min=0.0, max=1.0, step=0.01, description="A | B",
                                      continuous_update=True, readout_format=".2f", style=style)
        self.zoom = W.IntSlider(value=zoom, min=1, max=max_zoom, description="zoom", style=style)
        self.center_x = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.01, description="zoom x", style=style)
        self.center_y = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.01, description="zoom y", style=style)
        layout = W.Layout(width=f"{width or 512}px", max_width="100%")
        self.view = W.Image(format="png", layout=layout)

        for control in (self.left, self.right, self.mode, self.position, self.zoom, self.center_x,
                        self.center_y):
            control.observe(self._refresh, names="value")
        self.scene.observe(self._change_scene, names="value")

        top = [self.left, self.right, self.mode]
        if len(self.scenes) > 1:
            top.insert(0, self.scene)
        self.widget = W.VBox([W.HBox(top), self.position, W.HBox([self.zoom, self.center_x, self.center_y]),
                              self.view])
        self._refresh()

    def images(self) -> dict[str, np.ndarray]:
        """The versions of the currently picked scene."""
        return self.scenes[self.scene.value]

    def composite(self) -> np.ndarray:
        """The array the widget shows for the current control values."""
        imgs = self.images()
        a, b = imgs[self.left.value], imgs[self.right.value]
        if self.mode.value == "wipe":
            out = wipe(a, b, self.position.value, vertical=self.vertical)
        else:
            out = blend(a, b, self.position.value)
        z = int(self.zoom.value)
        if z > 1:  # zoom keeps the displayed size: a 1/z window enlarged z times
            h, w = out.shape[:2]
            center = (self.center_y.value * (h - 1), self.center_x.value * (w - 1))
            out = crop_zoom(out, center, (max(1, h // z), max(1, w // z)), z)
        return out

    def _change_scene(self, _change: Any = None) -> None:
        names = list(self.images())
        keep_left, keep_right = self.left.value, self.right.value
        self._busy = True  # replacing options fires value events with half-updated pickers
        try:
            self.left.options, self.right.options = names, names
            self.left.value = keep_left if keep_left in names else names[0]
            self.right.value = keep_right if keep_right in names else names[min(1, len(names) - 1)]
        finally:
            self._busy = False
        self._refresh()

    def _refresh(self, _change: Any = None) -> None:
        if self._busy:
            return
        self.view.value = encode_png(self.composite())

    def show(self) -> None:
        """Display the widget under the line that says what a reader without a kernel sees."""
        from IPython.display import Markdown, display

        display(Markdown(STORED_NOTE))
        display(self.widget)

    def _ipython_display_(self) -> None:  # lets a bare `slider` at the end of a cell show the widget
        from IPython.display import display

        display(self.widget)


def compare_slider(images: Mapping[str, Any], left: str | None = None, right: str | None = None,
                   mode: str = "wipe", position: float = 0.5, vertical: bool = False, zoom: int = 1,
                   width: int | None = None) -> CompareSlider:
    """Build a :class:`CompareSlider` for ``{'SR': sr, 'HR': hr, ...}`` (HxWx3 arrays of one size).

    ``images`` may also map scene names to such dicts (``{'astronaut': {'SR': .., 'HR': ..}, ...}``),
    which adds an image picker.  Display it by ending a cell with the returned object (or
    ``display(slider.widget)``).
    """
    if not images:
        raise SPSRError("compare_slider: give at least one image, e.g. {'SR': sr, 'HR': hr}")
    nested = all(isinstance(v, Mapping) for v in images.values())
    scenes = dict(images) if nested else {"image": dict(images)}
    return CompareSlider(scenes, left=left, right=right, mode=mode, position=position, vertical=vertical,
                         zoom=zoom, width=width)
