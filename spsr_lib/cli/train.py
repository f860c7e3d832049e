"""``spsr train CONFIG [--resume] [--set key=value ...] [--device auto|cpu|cuda]``.

Stage 1 (``stage: psnr``, e.g. ``configs/psnr_x4.yaml``) pre-trains RRDBNet with L1; stage 2
(``stage: spsr``, e.g. ``configs/paper_x4.yaml``) trains SPSR with G, D and D_grad starting from
``train.pretrained``. Several processes: ``torchrun --nproc_per_node N -m spsr_lib train CONFIG``.
Ctrl-C or SIGTERM ends the current step, saves a checkpoint and exits with status 130 (Ctrl-C) or 143 (SIGTERM);
``--resume`` goes on (under torchrun too: every rank stops after the same step, rank 0 saves). A bad training image met mid-run saves the last finished step, then exits 2
(under torchrun too: every rank stops after the same step, rank 0 saves, prints the line and exits 2; the others exit 0).
A second run on a live run's ``output_dir`` (also ``--resume``) is refused (exit 2): the folder is locked.
"""

from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML config (see configs/); keys not set there take the paper's values")
    parser.add_argument("--resume", action="store_true",
                        help="continue exactly from the latest checkpoint in the run's output_dir")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.niter=1000 --set loss.gan.weight=0")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None,
                        help="where to train (default: runtime.device of the config, 'auto')")


def run(args: argparse.Namespace) -> int:
    from spsr_lib.train.config import load_config
    from spsr_lib.train.stopping import DataStopped
    from spsr_lib.train.trainer import Trainer

    cfg = load_config(args.config, args.overrides)
    trainer = Trainer(cfg, device=args.device, resume=args.resume)
    try:
        trainer.fit()
    except DataStopped as exc:
        if not exc.quiet:
            raise  # one line, exit 2
        # torchrun, not rank 0: rank 0 prints the line and exits 2; a failed worker would make torchrun SIGTERM
        # the others at once, rank 0 perhaps before its line is out
        return 0
    finally:
        trainer.close()
    if trainer.interrupted:  # Ctrl-C / SIGTERM: the step ended and a checkpoint was saved
        from spsr_lib.train.stopping import SIGNAL_NAMES

        if trainer.dist.is_main:  # under torchrun: one line, not one per rank
            print(f"spsr train: interrupted at step {trainer.step} by {SIGNAL_NAMES[trainer.stop_signal]}: "
                  f"checkpoint saved in {trainer.run_dir}; --resume continues", file=sys.stderr)
        return 128 + int(trainer.stop_signal)
    return 0
