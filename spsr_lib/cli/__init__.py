"""cli: the ``spsr`` command (:func:`main`, in :mod:`spsr_lib.cli.app`) and one module per subcommand.

Each ``spsr_lib/cli/<name>.py`` provides ``configure(parser)`` and ``run(args) -> int`` and is imported
only when its subcommand runs.
May import: every other layer of ``spsr_lib`` (it is the top one); nothing in ``spsr_lib`` imports it back
(``spsr_lib/__main__.py`` aside).
"""

from spsr_lib.cli.app import main

__all__ = ["main"]
