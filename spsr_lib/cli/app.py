"""The ``spsr`` parser and ``main``: a thin face over the library.

Each subcommand lives in ``spsr_lib/cli/<name>.py`` and provides ``configure(parser)`` and
``run(args) -> int``.  Subcommands are imported only when used, so a broken optional dependency
can only break its own subcommand.  Every user-fixable problem becomes one line on stderr and a
non-zero exit status; tracebacks are reserved for bugs (and ``SPSR_DEBUG=1``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from spsr_lib.version import __version__

# name -> (module, one-line help). Order is the order shown by --help.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("spsr_lib.cli.demo", "super-resolve sample images with the demo weights and write a report"),
    "infer": ("spsr_lib.cli.infer", "super-resolve images, folders or globs (tiled, any size)"),
    "train": ("spsr_lib.cli.train", "train from a YAML config (PSNR pre-train or SPSR GAN stage)"),
    "evaluate": ("spsr_lib.cli.evaluate", "paper-style metric tables on benchmark sets"),
    "convert": ("spsr_lib.cli.convert", "convert checkpoints between the official layout and safetensors"),
    "export": ("spsr_lib.cli.export", "export a generator to ONNX, checked against PyTorch in onnxruntime"),
    "data": ("spsr_lib.cli.data", "download and prepare datasets"),
    "weights": ("spsr_lib.cli.weights", "fetch and convert pretrained weights (LPIPS/VGG trunks)"),
}

EXIT_USER_ERROR = 2
MAX_MESSAGE = 1000  # characters of an error line at most: its start and its end (the fix) are kept


class _Parser(argparse.ArgumentParser):
    """argparse with the kit's error form: one bounded line (argparse prints the usage block and echoes a bad value
    whole: a 100,000-character --kind value was a 100,000-character line), pointing at --help."""

    def error(self, message: str):  # type: ignore[override]
        import re

        from spsr_lib.errors import short_text

        message = re.sub(r"'([^']{80,})'", lambda m: repr(short_text(m.group(1), 80)), message)  # the user's values
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {short_text(message, MAX_MESSAGE - 100)}; see "
                                   f"{self.prog} --help\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="spsr",
        description="SPSR research kit: Structure-Preserving Super Resolution with Gradient Guidance.",
    )
    parser.add_argument("--version", action="version", version=f"spsr-kit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module_name)
        # configure lazily only for the chosen command: see main()
    return parser


def _configure_chosen(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.ArgumentParser:
    """Re-build the parser with the chosen subcommand's own arguments."""
    chosen = next((a for a in argv if not a.startswith("-")), None)
    if chosen not in SUBCOMMANDS:
        return parser
    module_name = SUBCOMMANDS[chosen][0]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        print(f"spsr: error: the '{chosen}' command is unavailable ({exc}); reinstall with `pip install -e .`",
              file=sys.stderr)
        raise SystemExit(EXIT_USER_ERROR) from None
    sub_action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    module.configure(sub_action.choices[chosen])
    sub_action.choices[chosen].set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _configure_chosen(build_parser(), argv)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    from spsr_lib.errors import SPSRError, Terminated, short_text
    from spsr_lib.io.notices import once_per_run

    restore = _sigterm_as_exception()
    try:
        with once_per_run(lambda text: _note(args.command, text)):  # 16-bit, alpha, colour profile: one line each
            return int(args._run(args) or 0)
    except SPSRError as exc:
        if os.environ.get("SPSR_DEBUG"):
            raise
        print(f"spsr {args.command}: error: {short_text(str(exc), MAX_MESSAGE)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Terminated as exc:
        print(f"spsr {args.command}: terminated (SIGTERM); files being written were discarded", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print(f"spsr {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        restore()


def _note(command: str, text: str) -> None:
    """One ``spsr <command>: note: ...`` line on stderr, above any progress bar."""
    from tqdm.auto import tqdm

    tqdm.write(f"spsr {command}: note: {text}", file=sys.stderr)


def _sigterm_as_exception():
    """SIGTERM (``docker stop``, SLURM, systemd) raises :class:`~spsr_lib.errors.Terminated` (a KeyboardInterrupt):
    every atomic write removes its temporary file (during ``fit()`` the trainer's own handler saves a checkpoint
    first: :mod:`spsr_lib.train.stopping`). Returns the undo."""
    import signal
    import threading

    from spsr_lib.errors import Terminated

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_sigterm(signum, frame):
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    return lambda: signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    raise SystemExit(main())
