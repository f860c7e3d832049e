"""ONNX files as super-resolution models: :func:`load_onnx_model` gives an :class:`OnnxSR`, run by onnxruntime.

An :class:`OnnxSR` looks to :func:`spsr_lib.inference.infer.upscale` (and ``run_model``'s tiling, self-ensemble and
``spsr evaluate``) like a generator: calling it on an NCHW float tensor returns ``OnnxOutput(sr, grad_sr)`` (``grad_sr``
None when the file has no output of that name), it has ``scale`` (and ``nf``, for the auto tile size), and
``.to(device)`` / ``.eval()`` return it.  Files written by ``spsr export`` (:mod:`spsr_lib.io.onnx_export`) carry
the scale and architecture in their metadata; for other files the scale is measured on an 8x8 input.  The input
is given in the file's own input type (float32, or float16 for ``spsr export --fp16``); outputs come back as
float32 tensors on the input's device.  onnxruntime uses as many threads as torch (``torch.get_num_threads()``),
so ``OMP_NUM_THREADS`` / ``torch.set_num_threads`` bound both; ``.to("cuda")`` uses onnxruntime's CUDA provider
when the installed onnxruntime has one (``onnxruntime-gpu``), else it stays on the CPU with a warning.

onnx and onnxruntime are optional (``pip install 'spsr-kit[onnx]'``); without them, one line says what to install.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from spsr_lib.errors import SPSRError

INSTALL_HINT = "pip install onnx onnxruntime (or pip install 'spsr-kit[onnx]')"
SR_OUTPUT, GRAD_OUTPUT, INPUT_NAME = "sr", "grad_sr", "lr"


class OnnxOutput(NamedTuple):
    sr: torch.Tensor
    grad_sr: torch.Tensor | None  # the gradient branch's map, for files exported from a gradient-guided model


def require(module: str, what: str) -> Any:
    """Import an optional ONNX package, or raise one line saying what to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise SPSRError(f"{what} needs the optional package '{module}', which is not installed; "
                        f"{INSTALL_HINT}") from None


def is_onnx_path(path: str | os.PathLike) -> bool:
    """True when ``path`` names an ONNX file (by its ``.onnx`` suffix, as every ONNX tool does)."""
    return isinstance(path, (str, os.PathLike)) and Path(path).suffix.lower() == ".onnx"


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:160] or type(exc).__name__


class OnnxSR:
    """An ONNX super-resolution model run by onnxruntime (module docstring)."""

    runs_in_onnxruntime = True  # run_model refuses torch autocast (--half / --bf16) for it

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise SPSRError(f"{self.path}: ONNX model file not found; check the --model path")
        self._ort = require("onnxruntime", "running an ONNX model")
        self.device = torch.device("cpu")
        self._session = self._open(["CPUExecutionProvider"])
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise SPSRError(f"{self.path}: has {len(inputs)} input(s) of rank "
                            f"{', '.join(str(len(i.shape)) for i in inputs)}; an SR model takes one NCHW image "
                            "(export it with `spsr export`)")
        self.input_name = inputs[0].name
        self.input_dtype = torch.float16 if inputs[0].type == "tensor(float16)" else torch.float32
        self.precision = "fp16" if self.input_dtype == torch.float16 else "fp32"
        names = [o.name for o in self._session.get_outputs()]
        self.sr_name = SR_OUTPUT if SR_OUTPUT in names else names[0]
        self.grad_name = GRAD_OUTPUT if GRAD_OUTPUT in names else None
        meta = self._session.get_modelmeta().custom_metadata_map
        try:
            self.arch = json.loads(meta.get("arch", "{}"))
        except ValueError:
            self.arch = {}
        self.kind = meta.get("kind", "ONNX model")
        self.nf = int(self.arch.get("nf", 64))
        self.scale = int(meta["scale"]) if meta.get("scale", "").isdigit() else self._measure_scale()

    @property
    def has_grad_sr(self) -> bool:
        return self.grad_name is not None

    def _open(self, providers: list) -> Any:
        opts = self._ort.SessionOptions()
        opts.intra_op_num_threads = max(torch.get_num_threads(), 1)
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3  # errors only: its warnings are not the user's business
        try:
            return self._ort.InferenceSession(str(self.path), opts, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types (InvalidProtobuf, Fail, ...)
            raise SPSRError(f"{self.path}: onnxruntime cannot load it as an ONNX model ({_short(exc)}); pass a "
                            "file written by `spsr export`") from None

    def _measure_scale(self) -> int:
        side = 8
        sr = self(torch.zeros(1, 3, side, side)).sr
        scale = int(sr.shape[-1]) // side
        if scale < 1 or tuple(sr.shape[-2:]) != (scale * side, scale * side):
            raise SPSRError(f"{self.path}: an 8x8 input gives a {tuple(sr.shape[-2:])} output, not an integer "
                            "upscale; pass a super-resolution model")
        return scale

    def to(self, device: str | torch.device | None = None, *args: Any, **kwargs: Any) -> OnnxSR:
        """Run on ``device``: CUDA through onnxruntime's CUDA provider when it is there, else the CPU."""
        dev = torch.device(device) if device is not None else self.device
        if dev.type == self.device.type:
            return self
        if dev.type == "cuda" and "CUDAExecutionProvider" in self._ort.get_available_providers():
            self._session = self._open([("CUDAExecutionProvider", {"device_id": dev.index or 0}),
                                        "CPUExecutionProvider"])
            self.device = dev
        elif dev.type == "cuda":
            warnings.warn(f"{self.path.name}: this onnxruntime has no CUDA provider (pip install onnxruntime-gpu); "
                          "running on the CPU", stacklevel=2)
        else:
            self._session = self._open(["CPUExecutionProvider"])
            self.device = dev
        return self

    def eval(self) -> OnnxSR:
        return self

    def __call__(self, lr: torch.Tensor) -> OnnxOutput:
        x = lr.detach().to("cpu", self.input_dtype).contiguous().numpy()
        wanted = [self.sr_name] + ([self.grad_name] if self.grad_name else [])
        try:
            outs = self._session.run(wanted, {self.input_name: x})
        except Exception as exc:
            raise SPSRError(f"{self.path}: onnxruntime failed on a {tuple(lr.shape)} input ({_short(exc)}); "
                            "check that the file is an SR model with a dynamic input size") from None
        tensors = [torch.from_numpy(np.ascontiguousarray(o)).float().to(lr.device) for o in outs]
        return OnnxOutput(tensors[0], tensors[1] if len(tensors) > 1 else None)

    def __repr__(self) -> str:
        return f"OnnxSR({self.path.name}, {self.kind}, x{self.scale}, {self.precision})"


def load_onnx_model(path: str | os.PathLike) -> OnnxSR:
    """An ONNX SR model (``spsr export`` output or any one-input NCHW SR model) run by onnxruntime."""
    return OnnxSR(path)
