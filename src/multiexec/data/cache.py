"""Parquet cache for parsed market data under :func:`multiexec.paths.cache_dir`.

An entry is keyed by the loader, its options and the (absolute path, size, mtime) of every input
file, so editing, adding or removing an input file makes a new entry. Each entry is one Parquet
file whose columns are the flattened arrays; shapes, labels and provenance live in the schema
metadata. A corrupt entry is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from multiexec.paths import cache_dir

CACHE_VERSION = 2  # 2: screened minute bars, notes and repairs in the header


def cache_key(kind: str, files: list[Path], options: dict) -> str:
    """Stable hash of the loader kind, its options and the inputs' paths, sizes and mtimes."""
    stats = []
    for f in sorted(Path(p).resolve() for p in files):
        st = f.stat()
        stats.append([str(f), st.st_size, st.st_mtime_ns])
    blob = json.dumps({"v": CACHE_VERSION, "kind": kind, "files": stats, "options": options}, sort_keys=True,
                      default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def cache_path(kind: str, key: str) -> Path:
    return cache_dir() / f"{kind}-{key}.parquet"


def save_arrays(path: Path, arrays: dict[str, np.ndarray], header: dict) -> None:
    """Write same-shaped arrays as flat Parquet columns; ``header`` (JSON) goes in the metadata."""
    shape = next(iter(arrays.values())).shape
    cols = {k: pa.array(np.ascontiguousarray(v).reshape(-1)) for k, v in arrays.items()}
    table = pa.table(cols).replace_schema_metadata(
        {"multiexec": json.dumps({"shape": list(shape), "header": header}, default=str)}
    )
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # per process: test workers may fill the same entry at once
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(path)


def load_arrays(path: Path) -> tuple[dict[str, np.ndarray], dict] | None:
    """Arrays and header written by :func:`save_arrays`, or None if the entry is absent or unreadable."""
    if not path.exists():
        return None
    try:
        table = pq.read_table(path)
        info = json.loads(table.schema.metadata[b"multiexec"])
        shape = tuple(info["shape"])
        arrays = {name: table.column(name).to_numpy().reshape(shape) for name in table.column_names}
    except (OSError, KeyError, ValueError, pa.ArrowException):
        return None
    return arrays, info["header"]


def clear_cache() -> int:
    """Delete every data cache entry (``data-*.parquet``); returns how many were removed."""
    n = 0
    for p in cache_dir().glob("data-*.parquet"):
        p.unlink()
        n += 1
    return n
