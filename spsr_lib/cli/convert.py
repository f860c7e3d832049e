"""``spsr convert IN OUT``: checkpoints between the official ``.pth`` layout and this kit's ``.safetensors``.

The direction follows OUT's suffix: ``.safetensors`` writes the kit layout with the architecture in the
metadata; any other suffix (``.pth``, ``.pt``) writes the official key layout (SPSR: the 884 keys of
``spsr.pth`` incl. the ``model.8`` alias; ESRGAN: the old ``model.*`` layout; D: ``features.N``), readable by
the authors' code. IN may be either, or a kit training checkpoint; it is detected from its keys and read
without executing code (weights-only / safetensors). An existing OUT is never replaced without ``--force`` (and
never when it is IN); OUT is written atomically, so a failed run leaves no partial file.
"""

from __future__ import annotations

import argparse

KINDS = ("auto", "generator", "rrdb", "discriminator")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="checkpoint to read (.pth official/kit training checkpoint, or .safetensors)")
    parser.add_argument("output", help="file to write: .safetensors (kit layout) or .pth (official layout)")
    parser.add_argument("--kind", choices=KINDS, default="auto",
                        help="what IN holds: SPSR generator, ESRGAN/RRDBNet, VGG discriminator (default: detect)")
    parser.add_argument("--scale", type=int, default=None,
                        help="upscale factor; needed only for x3 files in the official layout (x2 and x3 look alike)")
    parser.add_argument("--entry", default=None,
                        help="discriminator entry inside a training checkpoint (default: 'discriminator')")
    parser.add_argument("--force", action="store_true",
                        help="replace OUT if it exists (by a complete file: the write is atomic)")


def detect_kind(path: str) -> str:
    from spsr_lib.io import checkpoint as ck

    sd, _, name = ck.read_checkpoint(path)
    if "features.0.weight" in sd and "classifier.0.weight" in sd:
        return "discriminator"
    if ck.is_official_spsr(sd) or ck.is_kit_spsr(sd):
        return "generator"
    if ck.rrdb_layout(sd):
        return "rrdb"
    from spsr_lib.errors import CheckpointError

    raise CheckpointError(f"{name}: not an SPSR, ESRGAN or VGG-discriminator checkpoint (first keys: "
                          f"{ck.few_keys(list(sd), 3)}); pass --kind or another file")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from spsr_lib.errors import SPSRError
    from spsr_lib.io import checkpoint as ck
    from spsr_lib.io.atomic import atomic_torch_save, check_output_file
    from spsr_lib.io.output_guard import refuse_existing

    out = check_output_file(args.output, "OUT")  # before reading: a bad OUT is not found after the work
    if Path(args.input).exists() and out.exists() and out.resolve() == Path(args.input).resolve():
        raise SPSRError(f"{out}: OUT is the input file itself; write the converted checkpoint to another file")
    if not args.force:
        refuse_existing(out, "OUT", "spsr convert")
    kind = detect_kind(args.input) if args.kind == "auto" else args.kind
    arch = {"scale": args.scale} if args.scale is not None and kind != "discriminator" else {}
    if kind == "generator":
        model = ck.load_generator(args.input, **arch)
    elif kind == "rrdb":
        model = ck.load_rrdb(args.input, **arch)
    else:
        model = ck.load_discriminator(args.input, entry=args.entry)
    if out.name.endswith(".safetensors"):
        (ck.save_discriminator if kind == "discriminator" else ck.save_generator)(model, out)
        layout = "kit safetensors"
    else:
        sd = model.state_dict() if kind == "discriminator" else ck.export_official_state_dict(model)
        atomic_torch_save(sd, out)
        layout = "official .pth"
    print(f"wrote {out} ({layout}, {type(model).__name__}: {ck.arch_of(model)})")
    return 0
