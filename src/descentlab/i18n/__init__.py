"""Message catalogues: one place for every sentence a learner reads, in English and Korean.

Catalogues are JSON files ``i18n/<lang>/<domain>.json`` mapping a key to a message with
``str.format`` placeholders. A key is ``"<domain>.<name>"``; ``t("demo.title", lang="ko")`` looks
up ``name`` in ``ko/demo.json``. Files are read lazily, once per (lang, domain).

The language is chosen by, in order: the explicit ``lang`` argument, the ``DESCENTLAB_LANG``
environment variable, then English. A key missing from the chosen language falls back to English
(a catalogue test keeps both complete); a key missing from English raises ``KeyError`` naming the
key, so a typo fails loudly in tests. No torch import here.

Example::

    >>> from descentlab.i18n import t
    >>> t("cli.wrote_files", lang="en", n=3, out="out", seconds=1.0)
    'Wrote 3 files to out/ in 1.0 s:'
"""

from __future__ import annotations

import json
import os
import string
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache, lru_cache
from importlib import resources

__all__ = [
    "DEFAULT_LANG",
    "ENV_VAR",
    "available_langs",
    "catalogue",
    "current_lang",
    "domains",
    "has",
    "placeholders",
    "t",
    "using",
]

DEFAULT_LANG = "en"
ENV_VAR = "DESCENTLAB_LANG"
_CHOSEN: ContextVar[str | None] = ContextVar("descentlab_lang", default=None)


def _root():  # the i18n package folder as a Traversable
    return resources.files(__name__)


@lru_cache(maxsize=1)
def available_langs() -> tuple[str, ...]:
    """The languages with a catalogue folder, English first."""
    langs = sorted(p.name for p in _root().iterdir() if p.is_dir() and not p.name.startswith("_"))
    return tuple(sorted(langs, key=lambda x: (x != DEFAULT_LANG, x)))


def domains(lang: str = DEFAULT_LANG) -> tuple[str, ...]:
    """The catalogue domains (file stems) present for ``lang``."""
    folder = _root() / lang
    return tuple(sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json")))


def current_lang(lang: str | None = None) -> str:
    """``lang`` if given, else the one chosen with :func:`using` (the CLI's ``--lang``), else
    ``$DESCENTLAB_LANG``, else ``'en'``; unknown values raise ``UnknownNameError``.

    A region suffix is accepted and dropped (``ko_KR.UTF-8`` -> ``ko``).
    """
    lang = lang or _CHOSEN.get()
    chosen = lang if lang else os.environ.get(ENV_VAR, "") or DEFAULT_LANG
    code = chosen.strip().split(".")[0].split("_")[0].split("-")[0].lower()
    if code not in available_langs():
        from descentlab.errors import UnknownNameError

        what = "language" if lang else f"language (from {ENV_VAR})"
        raise UnknownNameError(what, chosen, available_langs())
    return code


@contextmanager
def using(lang: str | None) -> Iterator[str]:
    """Within the block, messages default to ``lang`` (``None``: leave the choice as it is)."""
    code = current_lang(lang)
    token = _CHOSEN.set(code if lang else _CHOSEN.get())
    try:
        yield code
    finally:
        _CHOSEN.reset(token)


@cache
def catalogue(lang: str, domain: str) -> dict[str, str]:
    """The messages of one domain in one language (empty if that file does not exist)."""
    path = _root() / lang / f"{domain}.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError(f"i18n catalogue {lang}/{domain}.json must map keys to strings")
    return data


def placeholders(message: str) -> frozenset[str]:
    """The named ``str.format`` fields of ``message`` (``'{n:d} of {total}'`` -> {n, total})."""
    return frozenset(
        name.split(".")[0].split("[")[0]
        for _, name, _, _ in string.Formatter().parse(message)
        if name
    )


def t(key: str, lang: str | None = None, **fmt: object) -> str:
    """The message ``key`` (``"domain.name"``) in ``lang`` (see :func:`current_lang`), formatted.

    Falls back to English when the language lacks the key; raises ``KeyError`` when English
    lacks it too.
    """
    domain, sep, name = key.partition(".")
    if not sep or not name:
        raise KeyError(f"i18n key {key!r} must be 'domain.name'")
    code = current_lang(lang)
    message = catalogue(code, domain).get(name)
    if message is None:
        message = catalogue(DEFAULT_LANG, domain).get(name)
    if message is None:
        raise KeyError(f"i18n key {key!r} is not in the {DEFAULT_LANG} catalogue")
    return message.format(**fmt) if fmt else message


def has(key: str) -> bool:
    """Whether the English catalogue holds ``key`` (every language holds the same keys)."""
    domain, _, name = key.partition(".")
    return name in catalogue(DEFAULT_LANG, domain)
