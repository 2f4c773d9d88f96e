"""Atomic file writing: a file is either the old one or the complete new one, never half."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from descentlab.errors import InvalidParameterError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    A folder that cannot be created or written, or any other ``OSError`` while writing, becomes
    an ``InvalidParameterError`` naming ``path`` and the reason.

    On any exception (KeyboardInterrupt included) the temporary file is removed and ``path`` is
    left as it was. The temporary name keeps ``path``'s suffix so writers that look at the
    extension (matplotlib, numpy) pick the right format.

    Example:
        >>> with atomic_path("out.png") as tmp:  # doctest: +SKIP
        ...     fig.savefig(tmp)
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=f".tmp{target.suffix}", dir=target.parent
        )
    except OSError as exc:
        raise _cannot_write(target, exc) from exc
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; give the file the mode a plain open() would (0666 minus umask).
        os.chmod(tmp_path, 0o666 & ~_UMASK)
        os.replace(tmp_path, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if isinstance(exc, OSError):  # disk full, target is a folder...: the user's to fix
            raise _cannot_write(target, exc) from exc
        raise


def _cannot_write(target: Path, exc: OSError) -> InvalidParameterError:
    """An OSError met while writing ``target``, as one line a user can act on."""
    return InvalidParameterError(f"cannot write {str(target)!r}: {exc.strerror or exc}")


def _read_umask() -> int:
    # Read once at import: os.umask can only be read by setting it, which is not thread-safe.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_json(path: str | os.PathLike[str], obj: Any, indent: int | None = 2) -> Path:
    return write_text(
        path, json.dumps(obj, indent=indent, allow_nan=False, default=_json_default) + "\n"
    )


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    try:
        import torch

        if isinstance(o, torch.Tensor):
            return o.detach().cpu().tolist()
    except ImportError:  # pragma: no cover
        pass
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def to_jsonable(obj: Any) -> Any:
    """Round-trip through JSON rules: numpy/torch to lists, NaN/Inf to None."""
    import math

    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, str | int | bool) or obj is None:
        return obj
    return to_jsonable(_json_default(obj))
