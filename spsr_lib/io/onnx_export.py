"""A generator as an ONNX file (``spsr export``), checked in onnxruntime against PyTorch before it is kept.

What the file holds (every model :func:`spsr_lib.io.checkpoint.load_sr_model` loads, and any SPSRNet, RRDBNet,
SRResNet or GradientGuidedSR in memory, incl. ``residual="bicubic"`` nets, whose bicubic upsampling becomes an
ONNX ``Resize`` with cubic coefficient -0.75, PyTorch's):

- one input ``lr`` (N x 3 x H x W, RGB in [0, 1]) and the output ``sr`` (N x 3 x sH x sW, not clamped), plus
  ``grad_sr`` (the gradient branch's map, N x 3 x sH x sW) for gradient-guided models (SPSRNet,
  GradientGuidedSR); batch, height and width are dynamic;
- fp32 by default; ``fp16=True`` stores float16 weights and computes in float16 with float16 input and
  outputs (as traiNNer-redux / chaiNNer fp16 models); :class:`~spsr_lib.io.onnx_model.OnnxSR` casts for you;
- metadata (``custom_metadata_map``): ``kind``, ``arch`` (JSON, as the kit's safetensors), ``scale``,
  ``precision``, ``outputs`` and the kit version.

The check (:func:`check_onnx`): the written file runs in onnxruntime (CPU) on a seeded random input of another
shape than the traced one (batch 2, 19 x 26: it proves the dynamic axes) and on a real photo (scikit-image's
``astronaut``, MATLAB-bicubic downscaled 8x to 64 x 64); every output is compared with the fp32 PyTorch model's.
Tolerance, max |ONNX - PyTorch| over all pixels, images in [0, 1]: fp32 1e-4 (0.026 grey levels; measured
~1e-6); fp16 2e-2 max and 2e-3 mean (measured on the shipped demo model: see docs/EXPORT.md).  Over the
tolerance is :class:`OnnxMismatchError` and nothing is written: the file is built and checked as a temporary
beside the destination and moved into place only when it passes (:mod:`spsr_lib.io.atomic`), so an existing
file at the destination stays intact on any failure (and is replaced on success, as ``spsr convert`` does).
"""

from __future__ import annotations

import copy
import io
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from spsr_lib.errors import SPSRError
from spsr_lib.io.onnx_model import GRAD_OUTPUT, INPUT_NAME, SR_OUTPUT, load_onnx_model, require

DEFAULT_OPSET = 17  # Resize (cubic) and DepthToSpace CRD need >= 11; 17 is read by onnxruntime, TensorRT, OpenCV
OPSET_RANGE = (11, 20)  # 20: the TorchScript exporter's highest
# max |ONNX - PyTorch fp32| (images in [0, 1]); fp16 also bounds the mean (a few rounding outliers are normal)
TOLERANCE = {"fp32": 1e-4, "fp16": 2e-2}
MEAN_TOLERANCE = {"fp32": 1e-4, "fp16": 2e-3}
TRACE_SHAPE = (1, 3, 32, 32)
RANDOM_SHAPE = (2, 3, 19, 26)
PHOTO_DOWNSCALE = 8  # astronaut 512 x 512 -> 64 x 64 LR


class OnnxMismatchError(SPSRError):
    """onnxruntime's output differs from PyTorch's by more than the stated tolerance."""


@dataclass
class CheckResult:
    input: str  # what was fed, e.g. "random 2x3x19x26"
    output: str  # "sr" or "grad_sr"
    max_abs: float
    mean_abs: float


@dataclass
class ExportReport:
    path: Path
    model: str
    precision: str
    opset: int
    outputs: list[str]
    size_bytes: int = 0
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def tolerance(self) -> tuple[float, float]:
        return TOLERANCE[self.precision], MEAN_TOLERANCE[self.precision]

    def lines(self) -> list[str]:
        tol, mean_tol = self.tolerance
        head = (f"wrote {self.path} ({self.model}, {self.precision}, opset {self.opset}, outputs "
                f"{', '.join(self.outputs)}, dynamic batch/height/width; {self.size_bytes / 2**20:.1f} MiB)")
        rule = (f"onnxruntime vs PyTorch fp32, tolerance max |diff| <= {tol:.0e}"
                + (f", mean <= {mean_tol:.0e}" if mean_tol < tol else "") + ":")
        rows = [f"  {c.input}: {c.output} max {c.max_abs:.2e}, mean {c.mean_abs:.2e}" for c in self.checks]
        return [head, rule, *rows]


class _Outputs(nn.Module):
    """The exported graph: ``lr -> sr`` or ``lr -> (sr, grad_sr)``, never ``grad_lr`` (cheap from the input)."""

    def __init__(self, model: nn.Module, with_grad: bool) -> None:
        super().__init__()
        self.model, self.with_grad = model, with_grad

    def forward(self, lr: torch.Tensor):
        out = self.model(lr)
        if isinstance(out, torch.Tensor):
            return out
        return (out.sr, out.grad_sr) if self.with_grad else out.sr


def _has_grad_sr(model: nn.Module) -> bool:
    with torch.inference_mode():
        out = model(torch.zeros(1, 3, 8, 8))
    return not isinstance(out, torch.Tensor) and getattr(out, "grad_sr", None) is not None


def describe(model: nn.Module) -> str:
    from spsr_lib.io.checkpoint_files import arch_of

    kind = getattr(model, "checkpoint_kind", type(model).__name__)
    arch = arch_of(model if not hasattr(model, "backbone") else model.backbone)
    inner = f"{type(model.backbone).__name__}: " if hasattr(model, "backbone") else ""
    return f"{kind}({inner}{', '.join(f'{k}={v}' for k, v in arch.items())})"


def _trace_to_bytes(graph: nn.Module, example: torch.Tensor, outputs: list[str], opset: int) -> bytes:
    # The TorchScript exporter (dynamo=False), not torch 2.9+'s default torch.export-based one: it needs no extra
    # package (the dynamo exporter needs onnxscript), exports these nets in about a second (dynamo: ~20 s for a
    # tiny SPSRNet), and its dynamic_axes are proven on every op the kit's nets use (interpolate with a
    # scale_factor, PixelShuffle -> DepthToSpace, bicubic Resize); onnxruntime then checks the result anyway.
    # Should a later torch drop it, the dynamo exporter with dynamic_shapes is used (it needs onnxscript).
    axes = {INPUT_NAME: {0: "batch", 2: "height", 3: "width"},
            **{name: {0: "batch", 2: "sr_height", 3: "sr_width"} for name in outputs}}
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation and constant-folding notes
        try:
            torch.onnx.export(graph, (example,), buf, dynamo=False, input_names=[INPUT_NAME], output_names=outputs,
                              dynamic_axes=axes, opset_version=opset, do_constant_folding=True)
            return buf.getvalue()
        except (TypeError, NotImplementedError) as exc:
            if "dynamo" not in str(exc) and "TorchScript" not in str(exc):
                raise
        require("onnxscript", "exporting with this torch's ONNX exporter (torch.export based)")
        dims = {0: torch.export.Dim("batch"), 2: torch.export.Dim("height", min=2),
                3: torch.export.Dim("width", min=2)}
        program = torch.onnx.export(graph, (example,), dynamo=True, input_names=[INPUT_NAME], output_names=outputs,
                                    dynamic_shapes=(dims,), opset_version=max(opset, 18))
        return program.model_proto.SerializeToString()


def _with_metadata(data: bytes, model: nn.Module, precision: str, outputs: list[str]) -> tuple[bytes, int]:
    """The file with the kit's metadata, checked by ``onnx.checker``, and its opset (as written)."""
    onnx = require("onnx", "spsr export")
    from spsr_lib.io.checkpoint_files import arch_of
    from spsr_lib.version import __version__

    proto = onnx.load_from_string(data)
    arch = arch_of(model.backbone if hasattr(model, "backbone") else model)
    meta = {"kind": getattr(model, "checkpoint_kind", type(model).__name__), "arch": json.dumps(arch),
            "scale": str(int(getattr(model, "scale", 4))), "precision": precision, "outputs": ",".join(outputs),
            "producer": f"spsr-kit {__version__} (spsr export)"}
    del proto.metadata_props[:]
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=value)
    proto.doc_string = ("SPSR-kit super-resolution model: input 'lr' N x 3 x H x W RGB in [0, 1]; output 'sr' "
                        "(x{scale}, clamp to [0, 1])".format(scale=meta["scale"])
                        + ("; 'grad_sr' the gradient branch's map" if GRAD_OUTPUT in outputs else ""))
    onnx.checker.check_model(proto)
    opset = next((int(o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    return proto.SerializeToString(), opset


def photo_lr() -> tuple[str, torch.Tensor]:
    """The real image of the check: scikit-image's astronaut, MATLAB-bicubic downscaled 8x (64 x 64)."""
    from skimage.data import astronaut

    from spsr_lib.ops.imresize import imresize

    lr = imresize(astronaut(), 1.0 / PHOTO_DOWNSCALE, mode="matlab")
    x = torch.from_numpy(np.ascontiguousarray(lr).astype(np.float32) / 255).permute(2, 0, 1)[None].contiguous()
    return f"astronaut {x.shape[-1]}x{x.shape[-2]} (scikit-image, /{PHOTO_DOWNSCALE} MATLAB bicubic)", x


def check_onnx(path: str | os.PathLike, model: nn.Module, precision: str = "fp32",
               name: str | os.PathLike | None = None) -> list[CheckResult]:
    """Run ``path`` in onnxruntime on a random input and a real photo; compare each output with ``model`` (fp32,
    PyTorch); raise :class:`OnnxMismatchError` (naming ``name``, default ``path``) beyond the tolerance."""
    onnx_model = load_onnx_model(path)
    generator = torch.Generator().manual_seed(0)
    inputs = [(f"random {'x'.join(map(str, RANDOM_SHAPE))}", torch.rand(RANDOM_SHAPE, generator=generator)),
              photo_lr()]
    tol, mean_tol = TOLERANCE[precision], MEAN_TOLERANCE[precision]
    results = []
    for label, x in inputs:
        with torch.inference_mode():
            ref = model(x)
        got = onnx_model(x)
        pairs = [(SR_OUTPUT, ref if isinstance(ref, torch.Tensor) else ref.sr, got.sr)]
        if got.grad_sr is not None:
            pairs.append((GRAD_OUTPUT, ref.grad_sr, got.grad_sr))
        for output, want, have in pairs:
            if tuple(want.shape) != tuple(have.shape):
                raise OnnxMismatchError(f"{name or path}: onnxruntime's '{output}' is {tuple(have.shape)} on the "
                                        f"{label} input, PyTorch's {tuple(want.shape)}; not written: export with "
                                        f"another --opset (e.g. {DEFAULT_OPSET}) or report the model")
            diff = (have.double() - want.double()).abs()
            res = CheckResult(label, output, float(diff.max()), float(diff.mean()))
            results.append(res)
            if not (res.max_abs <= tol and res.mean_abs <= mean_tol):  # NaN fails too
                raise OnnxMismatchError(
                    f"{name or path}: onnxruntime's '{output}' differs from PyTorch's on the {label} input by "
                    f"max {res.max_abs:.2e} / mean {res.mean_abs:.2e}, over the {precision} tolerance {tol:.0e} / "
                    f"{mean_tol:.0e}; not written: try fp32 (drop --fp16) or another --opset")
    return results


def export_onnx(model: nn.Module, path: str | os.PathLike, *, fp16: bool = False,
                opset: int = DEFAULT_OPSET) -> ExportReport:
    """Write ``model`` to ``path`` (``.onnx``) and check it in onnxruntime (module docstring); the report holds
    the measured errors.  ``model`` is not changed (a copy is exported)."""
    from spsr_lib.io.atomic import atomic_path

    dest = Path(path)
    if dest.suffix.lower() != ".onnx":
        raise SPSRError(f"{dest}: an ONNX file name ends with .onnx; give OUT a name such as {dest.stem}.onnx")
    if not (OPSET_RANGE[0] <= opset <= OPSET_RANGE[1]):
        raise SPSRError(f"--opset {opset} is outside {OPSET_RANGE[0]}..{OPSET_RANGE[1]} (the kit's nets need Resize "
                        f"and DepthToSpace of opset 11; the exporter stops at {OPSET_RANGE[1]}); use e.g. "
                        f"--opset {DEFAULT_OPSET}")
    require("onnx", "spsr export")
    require("onnxruntime", "checking the exported file (spsr export)")
    reference = copy.deepcopy(model).float().cpu().eval()
    outputs = [SR_OUTPUT] + ([GRAD_OUTPUT] if _has_grad_sr(reference) else [])
    precision = "fp16" if fp16 else "fp32"
    graph = _Outputs(copy.deepcopy(reference).to(torch.float16 if fp16 else torch.float32), len(outputs) > 1)
    example = torch.rand(TRACE_SHAPE, generator=torch.Generator().manual_seed(1))
    try:
        data = _trace_to_bytes(graph, example.to(torch.float16 if fp16 else torch.float32), outputs, opset)
    except SPSRError:
        raise
    except Exception as exc:  # the exporters raise many types; the message is what matters
        raise SPSRError(f"{dest}: torch.onnx.export failed for {type(model).__name__} at opset {opset} "
                        f"({' '.join(str(exc).split())[:160]}); try --opset {DEFAULT_OPSET}") from None
    data, written_opset = _with_metadata(data, reference, precision, outputs)
    report = ExportReport(dest, describe(reference), precision, written_opset, outputs, len(data))
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)
        report.checks = check_onnx(tmp, reference, precision, name=dest)
    return report
