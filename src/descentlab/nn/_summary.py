"""Short one-line summaries for result objects (their ``__repr__``): sizes and key numbers,
never the tensors themselves, so printing a result in a notebook stays readable."""

from __future__ import annotations

from typing import Any

from torch import Tensor


def num(x: Any) -> str:
    """A number in 4 significant digits; a tensor as ``tensor(shape)``; anything else by repr."""
    if isinstance(x, Tensor):
        if x.numel() == 1:
            return num(float(x))
        return f"tensor{tuple(x.shape)}"
    if isinstance(x, float):
        return f"{x:.4g}"
    return repr(x)


def summary(cls_name: str, /, **fields: Any) -> str:
    """``Name(a=1.23, b=tensor(3, 4))``."""
    return f"{cls_name}(" + ", ".join(f"{k}={num(v)}" for k, v in fields.items()) + ")"
