"""Reading a YAML config file safely: text only, UTF-8 only, small, and no alias bomb.

A config is a few hundred values in a few kB of UTF-8 text. Anything else is one
:class:`~spsr_lib.errors.ConfigError` line before YAML sees it, or right after parsing (issue 26):

- larger than :data:`MAX_BYTES`, holding NUL bytes (a binary file, a checkpoint passed by mistake), UTF-16/32
  (a byte-order mark; Windows editors write these), or not valid UTF-8 (the byte offset is named);
- a YAML document whose aliases (``*name``) expand it to more than :data:`MAX_VALUES` values: a 361-byte
  "billion laughs" file would otherwise expand to gigabytes in every traversal of the values (type checks, error
  messages). Aliases of a few values (``lr: &lr 1e-4`` ... ``*lr``, merge keys ``<<: *defaults``) still work;
- nested so deeply that the parser recurses out of stack, or a top level that is not a mapping.

Only ``yaml.safe_load``'s types are built: no YAML tag can run code.
"""

from __future__ import annotations

import codecs
import os
from pathlib import Path
from typing import Any

from spsr_lib.errors import ConfigError

MAX_BYTES = 1 << 20  # 1 MiB: the paper config is 3 kB
MAX_VALUES = 100_000  # scalars, lists and mappings after alias expansion
_BOMS = [(codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"), (codecs.BOM_UTF16_LE, "UTF-16"),
         (codecs.BOM_UTF16_BE, "UTF-16")]  # UTF-32 LE starts with UTF-16 LE's mark: test it first


def decode_config(data: bytes, path: str | os.PathLike) -> str:
    """The text of a config file, or one ConfigError line saying what kind of file it is instead."""
    fix = "save the config as UTF-8 text (see configs/ for examples)"
    if len(data) > MAX_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_BYTES >> 20} MB, not a config file (a few kB of YAML text); "
                          "check the path")
    for bom, name in _BOMS:
        if data.startswith(bom):
            raise ConfigError(f"{path}: the file is {name} encoded; {fix}")
    if b"\0" in data:
        raise ConfigError(f"{path}: a binary file (NUL bytes), not a YAML config; check the path")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start} is {data[exc.start:exc.start + 1].hex()}); "
                          f"{fix}") from None


def count_values(raw: Any, limit: int = MAX_VALUES) -> int:
    """Number of values in ``raw`` with every alias expanded, counting stops at ``limit + 1`` (bounded work)."""
    stack, n = [raw], 0
    while stack:
        node = stack.pop()
        n += 1
        if n > limit:
            return n
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend(node)
    return n


def parse_config_text(text: str, path: str | os.PathLike) -> dict:
    """``yaml.safe_load`` with the size, depth and shape rules above."""
    import yaml

    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" at line {line + 1}" if line is not None else ""
        raise ConfigError(f"{path}: invalid YAML{where}; fix the syntax") from None
    except RecursionError:
        raise ConfigError(f"{path}: YAML nested too deeply to be a config; fix the file") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    if count_values(raw) > MAX_VALUES:
        raise ConfigError(f"{path}: its YAML aliases (*name) expand to more than {MAX_VALUES} values, not a config; "
                          "remove the aliases and write the values out")
    return raw


def read_config_file(path: str | os.PathLike) -> dict:
    """The raw (not yet type-checked) mapping of a YAML config file."""
    try:
        with open(Path(path), "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror}); check the path") from None
    return parse_config_text(decode_config(data, path), path)
