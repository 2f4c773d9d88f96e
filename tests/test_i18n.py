"""The message catalogue: every key in both languages, same placeholders, lookup order."""

from __future__ import annotations

import json
import re

import pytest

from descentlab import i18n
from descentlab.errors import UnknownNameError
from descentlab.i18n import available_langs, catalogue, current_lang, domains, placeholders, t

REQUIRED_DOMAINS = {"cli", "demo", "experiments", "report"}


def test_languages_and_domains() -> None:
    assert available_langs()[0] == "en"
    assert "ko" in available_langs()
    for lang in ("en", "ko"):
        assert REQUIRED_DOMAINS <= set(domains(lang))


@pytest.mark.parametrize("domain", sorted(set(domains("en")) | set(domains("ko"))))
def test_every_key_in_both_languages_with_same_placeholders(domain: str) -> None:
    en, ko = catalogue("en", domain), catalogue("ko", domain)
    assert set(en) == set(ko), (
        f"{domain}: only in en {sorted(set(en) - set(ko))}, only in ko {sorted(set(ko) - set(en))}"
    )
    for key in en:
        assert placeholders(en[key]) == placeholders(ko[key]), f"{domain}.{key}"
        # Korean text is Korean, not a copy of the English (messages of placeholders and
        # punctuation only are the same in both)
        words = re.sub(r"\{[^}]*\}", "", en[key])
        if re.search("[A-Za-z]{3,}", words):
            assert en[key] != ko[key], f"{domain}.{key} is untranslated"


def test_catalogue_files_are_valid_json_objects() -> None:
    from importlib import resources

    root = resources.files("descentlab.i18n")
    for lang in available_langs():
        for path in (root / lang).iterdir():
            if path.name.endswith(".json"):
                data = json.loads(path.read_text(encoding="utf-8"))
                assert isinstance(data, dict) and all(isinstance(v, str) for v in data.values())


def test_placeholders() -> None:
    assert placeholders("{n:d} of {total} ({x.real})") == {"n", "total", "x"}
    assert placeholders("no fields {{literal}}") == frozenset()


def test_lookup_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DESCENTLAB_LANG", raising=False)
    assert current_lang() == "en"
    monkeypatch.setenv("DESCENTLAB_LANG", "ko_KR.UTF-8")
    assert current_lang() == "ko"
    assert current_lang("en") == "en"  # explicit beats the environment
    msg = t("cli.wrote_files", n=2, out="o", seconds=1.25)
    assert msg == catalogue("ko", "cli")["wrote_files"].format(n=2, out="o", seconds=1.25)
    assert t("cli.wrote_files", "en", n=2, out="o", seconds=1.25) == "Wrote 2 files to o/ in 1.2 s:"


def test_unknown_language_and_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UnknownNameError, match="language"):
        current_lang("xx")
    monkeypatch.setenv("DESCENTLAB_LANG", "klingon")
    with pytest.raises(UnknownNameError, match="DESCENTLAB_LANG"):
        t("cli.wrote_files")
    with pytest.raises(KeyError, match=r"cli\.no_such_key"):
        t("cli.no_such_key", "en")
    with pytest.raises(KeyError, match=r"domain\.name"):
        t("nodot", "en")


def test_falls_back_to_english_for_a_key_only_english_has(monkeypatch: pytest.MonkeyPatch) -> None:
    catalogue.cache_clear()
    monkeypatch.setitem(catalogue("en", "cli"), "_probe", "english only")
    try:
        assert t("cli._probe", "ko") == "english only"
    finally:
        catalogue.cache_clear()


def test_no_torch_import() -> None:
    """i18n and the descentlab modules it imports (transitively) use the standard library only,
    so --help and the catalogue stay light (read from the source: importing descentlab itself
    may load torch)."""
    import ast
    import importlib.util
    import sys
    from pathlib import Path

    todo, seen = [i18n.__name__], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = Path(importlib.util.find_spec(name).origin)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            for n in names:
                top = n.split(".")[0]
                if top == "descentlab":
                    todo.append(n)
                else:
                    assert top in sys.stdlib_module_names, f"{name} imports {n}"
    assert "descentlab.errors" in seen


def test_using_sets_and_restores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DESCENTLAB_LANG", raising=False)
    from descentlab.i18n import using

    with using("ko"):
        assert current_lang() == "ko"
        assert current_lang("en") == "en"
        with using(None):
            assert current_lang() == "ko"
    assert current_lang() == "en"
