"""Glob patterns that terminate: ``*``, ``?``, ``[...]`` and recursive ``**``, over a tree with symlink cycles.

``glob.glob(..., recursive=True)`` follows symlinked folders without remembering where it has been, so
``dir/**/*.png`` with ``dir/s1 -> .`` never ends (issue 26: 7.3 GB after 10 minutes). :func:`glob_files` follows
symlinked folders too (a linked data set is found), but lists each folder at most once per pattern component,
keyed by its (device, inode): a cycle is entered once and left, a folder reached by two routes is walked once, and
the work is bounded by the number of distinct folders. Matching is glob's: wildcards do not match a leading
``.`` unless the pattern's component starts with one, and ``**`` does not enter hidden folders. Paths come back
sorted and each real file once (the first route in breadth-first order names it).
"""

from __future__ import annotations

import fnmatch
import glob
import os
from collections import deque
from pathlib import Path


def _entries(folder: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError:  # unreadable, vanished, not a folder
        return []


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()  # follows a symlink: a linked folder is walked (once)
    except OSError:
        return False


def _hidden_ok(name: str, part: str) -> bool:
    return not name.startswith(".") or part.startswith(".")


def glob_files(pattern: str) -> list[Path]:
    """Files (and, for a last component that names folders, folders) matching ``pattern``; see the module doc."""
    parts = Path(os.path.expanduser(pattern)).parts
    k = 0
    while k < len(parts) and not glob.has_magic(parts[k]):
        k += 1
    root, rest = (Path(*parts[:k]) if k else Path(".")), parts[k:]
    if not rest:
        return [root] if root.exists() else []
    found: dict[tuple[int, int], Path] = {}
    seen: set[tuple[int, int, int]] = set()
    queue: deque[tuple[Path, int]] = deque([(root, 0)])

    def add(path: Path) -> None:
        try:
            st = path.stat()
        except OSError:
            return
        found.setdefault((st.st_dev, st.st_ino), path)

    while queue:
        folder, i = queue.popleft()
        try:
            st = folder.stat()
        except OSError:
            continue
        if (st.st_dev, st.st_ino, i) in seen:
            continue
        seen.add((st.st_dev, st.st_ino, i))
        part, last = rest[i], i == len(rest) - 1
        entries = _entries(folder)
        if part == "**":
            if last:  # 'dir/**': everything below
                for e in entries:
                    if not e.name.startswith("."):
                        add(Path(folder, e.name))
            else:  # zero folders, then one more level of '**'
                queue.append((folder, i + 1))
            queue.extend((Path(folder, e.name), i) for e in entries if not e.name.startswith(".") and _is_dir(e))
            continue
        magic = glob.has_magic(part)
        for e in entries:
            if magic and not (_hidden_ok(e.name, part) and fnmatch.fnmatchcase(e.name, part)):
                continue
            if not magic and e.name != part:
                continue
            if last:
                add(Path(folder, e.name))
            elif _is_dir(e):
                queue.append((Path(folder, e.name), i + 1))
    return sorted(found.values())
