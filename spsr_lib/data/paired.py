"""Training and validation pairs: HR images -> (LR, HR) patches, the way SPSR's ``LRHR_dataset`` makes them.

The official pipeline (``SPSR_REFERENCE.md`` §5.7 and §6), kept here:

* HR is mod-cropped to a multiple of ``scale``;
* train: a random LR top-left, ``randint`` **inclusive** over [0, h - p] (p = patch / scale), and the HR
  crop at ``scale`` times that position (aligned pixel for pixel);
* augmentation: three independent coins with p = 0.5, applied in this order to LR and HR alike:
  horizontal flip, vertical flip, H/W transpose;
* val: the whole mod-cropped image, no augmentation.

What is different, on purpose:

* the LR comes from :func:`spsr_lib.ops.imresize.imresize` with ``lr_mode``: ``"matlab"`` (default; uint8,
  bit-exact MATLAB, the LR the benchmarks use and what the official pre-generated, quantised training LR
  approximates) or ``"official_float"`` (the official on-the-fly float path).  Or from an ``lr`` folder,
  or computed once and cached to ``cache_dir``.  On the fly only the crop is resized
  (:func:`imresize_crop`), bit-identical to resizing the whole image and cropping;
* randomness is a function of ``(seed, epoch, index)`` only: call :meth:`set_epoch` each epoch (or index
  the dataset with ``(epoch, index)`` tuples, which also works with persistent workers), and the same
  sample comes back whatever the number of workers, on every DDP rank, and after a resume;
* images smaller than the patch are listed in one warning at construction and skipped, so a long run
  never dies on one tiny file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from spsr_lib.errors import SPSRError
from spsr_lib.io.images import image_size, is_image_file, read_image_uint8
from spsr_lib.ops.imresize import MODES, imresize, imresize_crop

PHASES = ("train", "val")


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so height and width are multiples of ``scale`` (official ``modcrop``)."""
    h, w = img.shape[0] - img.shape[0] % scale, img.shape[1] - img.shape[1] % scale
    return img[:h, :w]


def list_images(source: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """Sorted image files of a folder (not recursive), or the given list of files as paths."""
    if isinstance(source, (str, os.PathLike)):
        folder = Path(source)
        if not folder.is_dir():
            raise SPSRError(f"{folder}: image folder not found; check the path")
        files = sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p))
        if not files:
            raise SPSRError(f"{folder}: no images (.png, .jpg, .bmp, .tif, .webp) in this folder; check the path")
        return files
    return [Path(p) for p in source]


def augment(arrays: list[np.ndarray], hflip: bool, vflip: bool, rot90: bool) -> list[np.ndarray]:
    """Official ``util.augment`` on HxWxC arrays: flip W, flip H, then transpose H and W."""
    out = []
    for a in arrays:
        if hflip:
            a = a[:, ::-1]
        if vflip:
            a = a[::-1]
        if rot90:
            a = a.transpose(1, 0, 2)
        out.append(a)
    return out


def _to_chw(a: np.ndarray) -> torch.Tensor:
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1), dtype=np.float32))


class PairedImageDataset(torch.utils.data.Dataset):
    """(LR, HR) pairs from an HR folder (or list of files); items are ``{"lr", "hr", "name"}``.

    ``lr`` and ``hr`` are float32 3xhxw / 3xHxW RGB tensors in [0, 1] (``official_float`` LR may overshoot
    slightly, as in the official code); ``name`` is the HR file stem.
    """

    def __init__(
        self,
        hr: str | os.PathLike | Sequence[str | os.PathLike],
        *,
        scale: int = 4,
        patch_size: int = 128,
        lr: str | os.PathLike | None = None,
        lr_mode: str = "matlab",
        cache_dir: str | os.PathLike | None = None,
        augment: bool = True,
        seed: int = 0,
        phase: str = "train",
        cache_images: bool = False,
    ) -> None:
        if phase not in PHASES:
            raise SPSRError(f"PairedImageDataset: phase must be one of {PHASES}, got {phase!r}")
        if lr_mode not in MODES:
            raise SPSRError(f"PairedImageDataset: lr_mode must be one of {MODES}, got {lr_mode!r}")
        if int(scale) != scale or scale < 1:
            raise SPSRError(f"PairedImageDataset: scale must be a positive integer, got {scale!r}")
        if phase == "train" and (patch_size <= 0 or patch_size % scale):
            raise SPSRError(
                f"PairedImageDataset: patch_size {patch_size} must be a positive multiple of scale {scale}"
            )
        self.scale, self.patch_size, self.lr_mode = int(scale), int(patch_size), lr_mode
        self.augment, self.seed, self.phase, self.epoch = augment, int(seed), phase, 0
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.cache_images = cache_images
        self._memory: dict[tuple[str, int], np.ndarray] = {}
        files = list_images(hr)
        lr_files = self._pair_lr(files, Path(lr)) if lr is not None else [None] * len(files)
        min_hr = self.patch_size if phase == "train" else self.scale
        keep, self.skipped = [], []
        for path, lr_path in zip(files, lr_files):
            h, w = image_size(path)
            if h - h % self.scale < min_hr or w - w % self.scale < min_hr:
                self.skipped.append((path.name, (h, w)))
            else:
                keep.append((path, lr_path))
        if self.skipped:
            listed = ", ".join(f"{n} ({w}x{h})" for n, (h, w) in self.skipped)
            warnings.warn(
                f"PairedImageDataset: skipping {len(self.skipped)} image(s) smaller than {min_hr}x{min_hr} px "
                f"after mod-crop: {listed}",
                stacklevel=2,
            )
        if not keep:
            raise SPSRError(f"PairedImageDataset: every image is smaller than {min_hr}x{min_hr} px; nothing to train on")
        self.hr_paths = [p for p, _ in keep]
        self.lr_paths = [q for _, q in keep]

    # -- pairing and loading -------------------------------------------------------------------------------
    def _pair_lr(self, files: list[Path], folder: Path) -> list[Path]:
        by_stem = {p.stem: p for p in list_images(folder)}
        out = []
        for f in files:
            match = by_stem.get(f.stem) or by_stem.get(f"{f.stem}x{self.scale}")  # DIV2K names LR 0001x4.png
            if match is None:
                raise SPSRError(f"{folder}: no LR image for {f.name} (looked for {f.stem}.* and {f.stem}x{self.scale}.*)")
            out.append(match)
        return out

    @property
    def names(self) -> list[str]:
        return [p.stem for p in self.hr_paths]

    def __len__(self) -> int:
        return len(self.hr_paths)

    def set_epoch(self, epoch: int) -> None:
        """Select the random stream of this epoch (call on every rank before iterating)."""
        self.epoch = int(epoch)

    def _remember(self, key: tuple[str, int], load):
        if not self.cache_images:
            return load()
        if key not in self._memory:
            self._memory[key] = load()
        return self._memory[key]

    def _hr(self, i: int) -> np.ndarray:
        return self._remember(("hr", i), lambda: np.ascontiguousarray(modcrop(read_image_uint8(self.hr_paths[i]), self.scale)))

    def _lr_full(self, i: int, hr: np.ndarray) -> np.ndarray:
        """The whole LR image of item i (read from the LR folder, the disk cache, or computed)."""

        def load() -> np.ndarray:
            if self.lr_paths[i] is not None:
                lr = read_image_uint8(self.lr_paths[i])
                want = (hr.shape[0] // self.scale, hr.shape[1] // self.scale)
                if lr.shape[:2] != want:
                    raise SPSRError(
                        f"{self.lr_paths[i]}: LR is {lr.shape[1]}x{lr.shape[0]} px but {self.hr_paths[i].name} "
                        f"needs {want[1]}x{want[0]} (HR mod-cropped / {self.scale}); regenerate the LR folder"
                    )
                return lr
            if self.cache_dir is not None:
                return self._cached_lr(i, hr)
            return self._make_lr(hr)

        return self._remember(("lr", i), load)

    def _make_lr(self, hr: np.ndarray) -> np.ndarray:
        src = hr if self.lr_mode == "matlab" else hr.astype(np.float32) / 255.0
        return imresize(src, 1.0 / self.scale, mode=self.lr_mode)

    def _cached_lr(self, i: int, hr: np.ndarray) -> np.ndarray:
        from spsr_lib.io.atomic import atomic_path
        from spsr_lib.io.images import write_image

        path = self.hr_paths[i]
        st = path.stat()
        key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|x{self.scale}|{self.lr_mode}"
        digest = hashlib.sha1(key.encode()).hexdigest()[:12]
        suffix = ".png" if self.lr_mode == "matlab" else ".npy"
        target = self.cache_dir / f"{path.stem}-{digest}{suffix}"
        if target.exists():
            return read_image_uint8(target) if suffix == ".png" else np.load(target)
        lr = self._make_lr(hr)
        if suffix == ".png":
            write_image(target, lr)
        else:
            with atomic_path(target) as tmp, open(tmp, "wb") as fh:
                np.save(fh, lr)
        return lr

    # -- one sample ------------------------------------------------------------------------------------------
    def __getitem__(self, index: int | tuple[int, int]) -> dict:
        epoch, i = index if isinstance(index, tuple) else (self.epoch, index)
        hr = self._hr(i)
        if self.phase == "val":
            lr = self._lr_full(i, hr)
            return {"lr": _to_chw(lr), "hr": _to_chw(hr), "name": self.hr_paths[i].stem}
        rng = np.random.default_rng([self.seed, int(epoch), int(i)])
        s, p = self.scale, self.patch_size // self.scale
        h_lr, w_lr = hr.shape[0] // s, hr.shape[1] // s
        top = int(rng.integers(0, h_lr - p, endpoint=True))
        left = int(rng.integers(0, w_lr - p, endpoint=True))
        hr_patch = hr[top * s : (top + p) * s, left * s : (left + p) * s]
        if self.lr_paths[i] is None and self.cache_dir is None and not self.cache_images:
            src = hr if self.lr_mode == "matlab" else hr.astype(np.float32) / 255.0
            lr_patch = imresize_crop(src, 1.0 / s, top, left, p, p, mode=self.lr_mode)
        else:
            lr_patch = self._lr_full(i, hr)[top : top + p, left : left + p]
        if self.augment:
            flips = rng.random(3) < 0.5
            lr_patch, hr_patch = augment([lr_patch, hr_patch], *(bool(f) for f in flips))
        return {"lr": _to_chw(lr_patch), "hr": _to_chw(hr_patch), "name": self.hr_paths[i].stem}


# -- offline preparation (``spsr data prepare``) ---------------------------------------------------------------
def subimage_starts(length: int, crop: int, step: int, thresh: int) -> list[int]:
    """Official ``extract_subimgs_single.py``: starts every ``step``, plus a last crop flush with the end
    when more than ``thresh`` pixels would otherwise be left over.  Empty when ``length < crop``."""
    if length < crop:
        return []
    starts = list(range(0, length - crop + 1, step))
    if length - (starts[-1] + crop) > thresh:
        starts.append(length - crop)
    return starts


def prepare_subimages(
    hr: str | os.PathLike | Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    crop: int = 480,
    step: int = 240,
    thresh: int = 48,
    scale: int = 4,
    lr_mode: str = "matlab",
    progress: bool = True,
) -> dict:
    """Cut mod-cropped HR images into ``crop`` sub-images (``<stem>_s001.png``, row-major, as the official
    script) under ``out/HR``, and their LR under ``out/LR_x<scale>`` (uint8 PNG).

    As officially (LR of the whole image first, then the same script with crop/scale, step/scale,
    thresh/scale), each LR sub-image is the matching window of the whole image's LR, not a resize of the
    sub-image: computed with :func:`imresize_crop`, so it equals what on-the-fly training LR would be.
    ``lr_mode="official_float"`` quantises the float LR to uint8 when saving, as the official
    ``generate_dataset.py`` did with cv2.  Images smaller than ``crop`` are skipped and listed.  No output replaces
    an input or a file no prepare run wrote (checked before any write), and an error half-way removes what this run
    created.
    Returns counts: ``{"images", "subimages", "skipped": [names]}``.
    """
    from tqdm import tqdm

    from spsr_lib.io.images import write_image

    if crop % scale or step % scale:
        raise SPSRError(f"prepare: crop {crop} and step {step} must be multiples of scale {scale} so LR sub-images align")
    if lr_mode not in MODES:
        raise SPSRError(f"prepare: lr_mode must be one of {MODES}, got {lr_mode!r}")
    from spsr_lib.io.output_guard import KIT_SOFTWARE

    out = Path(out)
    files = list_images(hr)
    _check_outputs(files, out, crop, step, thresh, scale)  # before any write: nothing replaced that is not ours
    n_sub, skipped = 0, []
    created: list[Path] = []  # files this run made (not replaced): removed again when it stops half-way
    folders = [out / f"LR_x{scale}", out / "HR", out]
    new_folders = [d for d in folders if not d.exists()]
    try:
        for path in tqdm(files, desc="sub-images", unit="img", disable=not progress, leave=False):
            img = np.ascontiguousarray(modcrop(read_image_uint8(path), scale))
            src = img if lr_mode == "matlab" else img.astype(np.float32) / 255.0
            ys = subimage_starts(img.shape[0], crop, step, thresh)
            xs = subimage_starts(img.shape[1], crop, step, thresh)
            if not ys or not xs:
                skipped.append(path.name)
                continue
            index = 0
            for y in ys:
                for x in xs:
                    index += 1
                    sub = np.ascontiguousarray(img[y : y + crop, x : x + crop])
                    name = f"{path.stem}_s{index:03d}.png"
                    lr = imresize_crop(src, 1.0 / scale, y // scale, x // scale, crop // scale, crop // scale,
                                       mode=lr_mode)
                    for dest, pixels in ((out / "HR" / name, sub), (out / f"LR_x{scale}" / name, lr)):
                        new = not dest.exists()
                        write_image(dest, pixels, software=KIT_SOFTWARE)
                        if new:
                            created.append(dest)
                    n_sub += 1
    except BaseException:  # a bad image (NaN pixels, truncated) met half-way, Ctrl-C: leave no half-made set
        for f in created:
            f.unlink(missing_ok=True)
        for d in new_folders:
            with contextlib.suppress(OSError):
                d.rmdir()
        raise
    if skipped:
        warnings.warn(f"prepare: skipped {len(skipped)} image(s) smaller than {crop} px: {', '.join(skipped)}", stacklevel=2)
    return {"images": len(files) - len(skipped), "subimages": n_sub, "skipped": skipped}


def _check_outputs(files: list[Path], out: Path, crop: int, step: int, thresh: int, scale: int) -> None:
    """Issue 26: ``prepare`` wrote over a user's ``OUT/HR/a_s001.png`` and, given ``HR_DIR`` = ``OUT/HR``, cut its
    sub-images into the input folder (a re-run would cut those again). Every output name is planned from the image
    headers and refused in one line, before any write, when it is an input, or exists and no prepare run wrote it
    (the kit's PNGs carry a ``Software: spsr-kit`` chunk, so a re-run replaces its own)."""
    from spsr_lib.io.output_guard import OutputPlan, kit_png

    folders = {os.path.realpath(f.parent) for f in files}
    for sub in ("HR", f"LR_x{scale}"):
        if os.path.realpath(out / sub) in folders:
            raise SPSRError(f"{out / sub}: is the HR_DIR the images are read from; the sub-images would land among "
                            "them; choose another OUT_DIR")
    plan = OutputPlan(files, kit_png, "spsr data prepare")
    for path in files:
        h, w = image_size(path)
        count = len(subimage_starts(h - h % scale, crop, step, thresh)) * len(subimage_starts(w - w % scale, crop,
                                                                                                 step, thresh))
        names = [f"{path.stem}_s{i:03d}.png" for i in range(1, count + 1)]
        problem = plan.problem(path.name, [out / sub / n for n in names for sub in ("HR", f"LR_x{scale}")])
        if problem:
            raise SPSRError(f"{path}: {problem}; choose another OUT_DIR (nothing was written)")
