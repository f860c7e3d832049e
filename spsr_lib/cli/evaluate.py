"""``spsr evaluate``: paper-style PSNR/SSIM and PI/LPIPS tables on benchmark sets.

    spsr evaluate [--model CKPT | --sr-dir DIR] --sets Set5 Set14 [--mode standard|spsr|both] --out DIR

Bicubic is always the first method (after an "HR" row with the HR images' own phase index).  ``--sr-dir`` holds
one sub-folder per set (``DIR/Set5/baby.png``), or the images themselves when a single set is given.  See
``spsr_lib/inference/evaluate.py``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    from spsr_lib.inference.evaluate import ALL_METRICS

    src = parser.add_mutually_exclusive_group()
    src.add_argument(
        "--model", type=Path,
        help="generator checkpoint (official spsr.pth, kit .pth or .safetensors) or an ONNX file from `spsr export`"
    )
    src.add_argument("--sr-dir", type=Path, help="folder of SR images: DIR/<set>/<name>.png")
    parser.add_argument("--sets", nargs="+", default=["Set5", "Set14"], help="benchmark set names or folders")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument(
        "--mode",
        choices=("standard", "spsr", "both"),
        default="both",
        help="PSNR/SSIM protocol (standard: float Y; spsr: the paper's MATLAB toolbox)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("results/evaluate"), help="output folder (md, csv, json)"
    )
    parser.add_argument("--name", help="row name for the model / SR folder (default: file or folder name)")
    parser.add_argument("--metrics", nargs="+", default=list(ALL_METRICS), choices=ALL_METRICS,
                        help="metrics to compute (default: all). phase_index also gets an HR row; branch_grad_l1 and "
                             "branch_zero_change apply to gradient-guided models (SPSRNet, GradientGuidedSR) only")
    parser.add_argument("--root", type=Path, help="folder holding the benchmark sets (default: search order)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (model inference only)")
    parser.add_argument("--tile", default=None, help="LR tile size for inference (int or 'auto')")
    parser.add_argument("--bf16", action="store_true",
                        help="model inference in bf16 + channels_last (about 3x faster on CPUs with native bf16; "
                             "the row is marked)")
    parser.add_argument("--self-ensemble", action="store_true",
                        help="x8 self-ensemble (4 rotations x flip, averaged; 8x slower); the row gets '(x8)'")
    parser.add_argument(
        "--niqe-params", type=Path, help="LIVE NIQE modelparameters.mat (else SPSR_NIQE_PARAMS)"
    )
    parser.add_argument("--ma-model", type=Path, help="Ma et al.'s model.mat (else SPSR_MA_MODEL)")
    parser.add_argument("--no-bicubic", action="store_true",
                        help="leave out the Bicubic row (its metrics cost as much as the model's on large sets)")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from spsr_lib.cli.infer import _parse_tile
    from spsr_lib.errors import SPSRError
    from spsr_lib.inference.evaluate import evaluate
    from spsr_lib.inference.infer import resolve_device
    from spsr_lib.inference.tiling import check_tile_args
    from spsr_lib.io.atomic import check_output_dir

    # every argument is checked before the first image: nothing is found out after the work
    tile = None if args.tile is None else _parse_tile(str(args.tile))
    if isinstance(tile, int):
        check_tile_args(tile, 16)
    if args.model is not None:
        resolve_device(args.device)
        if args.bf16 and args.model.suffix.lower() == ".onnx":
            raise SPSRError(f"{args.model}: --bf16 is PyTorch autocast and does not apply to an ONNX model; drop it, "
                            "or export with `spsr export --fp16`")
    if args.self_ensemble and args.model is None:
        raise SPSRError("--self-ensemble changes how a model runs; give --model (SR folders are not affected)")
    if args.sr_dir is not None and not args.sr_dir.is_dir():
        what = "is a file, not a folder" if args.sr_dir.exists() else "no such folder"
        raise SPSRError(f"{args.sr_dir}: {what}; give --sr-dir the folder holding DIR/<set>/<name>.png")
    _check_outputs(check_output_dir(args.out, "--out"), args)
    result = evaluate(
        args.sets, scale=args.scale, mode=args.mode, model=args.model, sr_dir=args.sr_dir, name=args.name,
        metrics=args.metrics, root=args.root, device=args.device, tile=tile, bf16=args.bf16,
        self_ensemble=args.self_ensemble, bicubic=not args.no_bicubic,
        progress=not args.no_progress,
        niqe_params=args.niqe_params, ma_model=args.ma_model,
    )  # fmt: skip
    for mode in result.modes:
        print(result.table(mode))
    written = result.write(args.out)
    print(f"wrote {', '.join(str(p) for p in written)}", file=sys.stderr)
    return 0


def _check_outputs(out, args) -> None:
    """Before the work: the tables never replace an input or a file no spsr evaluate run wrote (issue 26)."""
    from spsr_lib.errors import SPSRError
    from spsr_lib.io.output_guard import OutputPlan, starts_with

    modes = ["standard", "spsr"] if args.mode == "both" else [args.mode]
    names = [f"results_{m}.{ext}" for m in modes for ext in ("md", "csv")] + ["results.json"]
    ours = starts_with("### SPSR-style evaluation", '"# x', "# x", '{\n "scale"')  # the first lines it writes
    problem = OutputPlan([args.model] if args.model else [], ours, "spsr evaluate").problem(
        "the tables", [out / n for n in names])
    if problem:
        raise SPSRError(f"{problem}; choose another --out (a new or empty folder) or move the file")
