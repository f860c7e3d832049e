"""``spsr export MODEL OUT.onnx [--fp16] [--opset N]``: a generator as an ONNX file, checked by onnxruntime.

MODEL is any generator file ``spsr infer`` reads (official ``spsr.pth``, kit ``.safetensors`` / training
checkpoints, ESRGAN/RRDBNet files).  OUT gets input ``lr`` and output ``sr`` (plus ``grad_sr`` for SPSR
models) with dynamic batch, height and width.  Before OUT is put in place the file runs in onnxruntime on a
random input and on a real photo and is compared with PyTorch; the tolerance and the measured errors are
printed, and a mismatch is an error (exit 2, nothing written).  An existing OUT is refused unless ``--force`` is
given, and then replaced only by a file that passed (as ``spsr convert --force``); OUT may not be MODEL itself.
See ``spsr_lib/io/onnx_export.py`` and docs/EXPORT.md.
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    from spsr_lib.io.onnx_export import DEFAULT_OPSET

    parser.add_argument("model", metavar="MODEL", help="generator weights (.safetensors, .pth)")
    parser.add_argument("output", metavar="OUT.onnx", help="ONNX file to write")
    parser.add_argument("--fp16", action="store_true",
                        help="float16 weights, input and outputs (half the size; for GPUs / TensorRT)")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                        help="ONNX opset (default %(default)s; 11..20)")
    parser.add_argument("--force", action="store_true",
                        help="replace OUT if it exists (only by a file that passed the check)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from spsr_lib.errors import SPSRError
    from spsr_lib.io.atomic import check_output_file
    from spsr_lib.io.onnx_export import DEFAULT_OPSET, OPSET_RANGE, export_onnx
    from spsr_lib.io.onnx_model import is_onnx_path, require
    from spsr_lib.io.output_guard import refuse_existing

    # everything that can be checked before the work is checked first
    out = Path(args.output).expanduser()
    if not is_onnx_path(out):
        raise SPSRError(f"{out}: an ONNX file name ends with .onnx; give OUT a name such as {out.stem}.onnx")
    if not (OPSET_RANGE[0] <= args.opset <= OPSET_RANGE[1]):
        raise SPSRError(f"--opset {args.opset} is outside {OPSET_RANGE[0]}..{OPSET_RANGE[1]}; use e.g. "
                        f"--opset {DEFAULT_OPSET}")
    require("onnx", "spsr export")
    require("onnxruntime", "spsr export (it checks the file it writes)")
    check_output_file(out, "OUT")
    src = Path(args.model).expanduser()
    if not src.is_file():
        raise SPSRError(f"{src}: model file not found; check the MODEL path (.safetensors / .pth weights)")
    if is_onnx_path(src):
        raise SPSRError(f"{src}: is already an ONNX file; pass the PyTorch weights (.safetensors / .pth) it came from")
    if out.exists() and out.resolve() == src.resolve():
        raise SPSRError(f"{out}: OUT is the model file itself; write the ONNX file to another name")
    if not args.force:
        refuse_existing(out, "OUT", "spsr export")
    from spsr_lib.io.checkpoint import load_sr_model

    model = load_sr_model(src)
    report = export_onnx(model, out, fp16=args.fp16, opset=args.opset)
    print("\n".join(report.lines()))
    return 0
