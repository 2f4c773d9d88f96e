"""The sweep store: one DuckDB file, one transaction per finished cell.

Tables:

* ``spec``  (``key``, ``value``): the spec as canonical JSON (``spec``) and the run settings
  every stored result depends on (``settings``);
* ``cells`` : one row per finished cell (landscape, optimizer label and name, configuration as
  JSON, its index in the optimizer's trials, ``lr``, seed, dimension, ``f*``, steps executed,
  state row-steps, run and wall seconds);
* ``runs``  : one row per start of a finished cell (outcome, saddle index, gap, final value and
  gradient norm, stop reason and step, number of saddle visits, steps to each target, start and
  final point).

A cell's ``cells`` row and its ``runs`` rows are written in one transaction, so a store never
holds half a cell: an interrupted sweep (Ctrl-C, a killed process) resumes with the finished
cells intact. The store has one writer (the process that runs the sweep; with Ray, the driver).

Resuming with a different spec is allowed only when nothing would mix: the settings must be
equal and every stored cell must still be a cell of the new spec (adding landscapes, seeds or
optimizers is fine; changing steps, starts, targets, stop rules, the tuning budget, or removing
or changing an entry is refused).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from descentlab.errors import InvalidParameterError
from descentlab.sweeps.cells import RUN_COLUMNS
from descentlab.sweeps.spec import SweepSpec, canonical_json

SCHEMA_VERSION = "1"

_DDL = (
    "CREATE TABLE IF NOT EXISTS spec (key VARCHAR PRIMARY KEY, value VARCHAR)",
    """CREATE TABLE IF NOT EXISTS cells (
        cell_id VARCHAR PRIMARY KEY, landscape VARCHAR, optimizer VARCHAR,
        optimizer_name VARCHAR, config VARCHAR, config_index INTEGER, lr DOUBLE, seed INTEGER,
        dim INTEGER, n_starts INTEGER, f_star DOUBLE, steps_executed BIGINT, row_steps BIGINT,
        run_s DOUBLE, wall_s DOUBLE)""",
    """CREATE TABLE IF NOT EXISTS runs (
        cell_id VARCHAR, start INTEGER, outcome VARCHAR, saddle_index INTEGER, gap DOUBLE,
        final_value DOUBLE, grad_norm DOUBLE, stop_reason VARCHAR, stop_step BIGINT,
        saddle_visits INTEGER, steps_to_target BIGINT[], x0 DOUBLE[], x_final DOUBLE[],
        PRIMARY KEY (cell_id, start))""",
)
CELL_COLUMNS = (
    "cell_id",
    "landscape",
    "optimizer",
    "optimizer_name",
    "config",
    "config_index",
    "lr",
    "seed",
    "dim",
    "n_starts",
    "f_star",
    "steps_executed",
    "row_steps",
    "run_s",
    "wall_s",
)
TIMING_COLUMNS = ("run_s", "wall_s")  # differ from run to run; everything else is reproducible


class StoreError(InvalidParameterError):
    """A store that cannot be opened, or a spec that would mix incompatible results."""


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError:  # pragma: no cover - duckdb is a core dependency
        raise StoreError("the sweep store needs duckdb: pip install duckdb") from None
    return duckdb


class SweepStore:
    """A DuckDB sweep store (see the module docstring). Use as a context manager.

    Example:
        >>> import tempfile, os
        >>> with SweepStore(os.path.join(tempfile.mkdtemp(), "s.duckdb")) as st:
        ...     st.finished_ids()
        set()
    """

    def __init__(self, path: str | os.PathLike[str], *, read_only: bool = False) -> None:
        duckdb = _duckdb()
        self.path = Path(path)
        if read_only and not self.path.exists():
            raise StoreError(f"no sweep store at {self.path}")
        if not read_only and self.path.parent and not self.path.parent.exists():
            raise StoreError(f"cannot create {self.path}: folder {self.path.parent} missing")
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as exc:
            msg = str(exc).splitlines()[0]
            if "lock" in msg.lower():
                msg = "it is open in another process (a store has one writer)"
            raise StoreError(f"cannot open sweep store {self.path}: {msg}") from None
        except duckdb.Error as exc:
            raise StoreError(
                f"{self.path} is not a sweep store: {str(exc).splitlines()[0]}"
            ) from None
        if read_only:
            names = {r[0] for r in self.con.execute("SHOW TABLES").fetchall()}
            if not {"spec", "cells", "runs"} <= names:
                self.con.close()
                raise StoreError(f"{self.path} is not a sweep store (no spec/cells/runs tables)")
        else:
            for ddl in _DDL:
                self.con.execute(ddl)

    # ------------------------------------------------------------------ context
    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> SweepStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ spec
    def get(self, key: str) -> str | None:
        row = self.con.execute("SELECT value FROM spec WHERE key = ?", [key]).fetchone()
        return None if row is None else row[0]

    def spec(self) -> SweepSpec | None:
        text = self.get("spec")
        return None if text is None else SweepSpec.from_dict(json.loads(text))

    def attach_spec(self, spec: SweepSpec, *, resume: bool) -> None:
        """Record ``spec``; on an existing store, require ``resume`` and a compatible spec."""
        settings = canonical_json(spec.settings())
        old = self.get("settings")
        n_done = self.con.execute("SELECT count(*) FROM cells").fetchone()[0]
        if old is not None and n_done:
            if not resume:
                raise StoreError(
                    f"{self.path} already holds {n_done} finished cells; pass --resume to go on "
                    "with them, or choose a new store"
                )
            if old != settings:
                diff = _settings_diff(json.loads(old), spec.settings())
                raise StoreError(
                    f"the spec's settings differ from the store's ({diff}): its results would "
                    "not be comparable; use a new store"
                )
            wanted = {c.cell_id for c in spec.cells()}
            stray = self.con.execute(
                "SELECT cell_id, landscape, optimizer, config, seed FROM cells"
            )
            extra = [r for r in stray.fetchall() if r[0] not in wanted]
            if extra:
                r = extra[0]
                raise StoreError(
                    f"the store holds {len(extra)} finished cells the new spec does not produce "
                    f"(e.g. {r[1]} | {r[2]} {r[3]} | seed {r[4]}); resuming would mix results "
                    "of different specs; use a new store"
                )
        with self._transaction():
            for key, value in (
                ("schema", SCHEMA_VERSION),
                ("spec", canonical_json(spec.to_dict())),
                ("settings", settings),
            ):
                self.con.execute("INSERT OR REPLACE INTO spec VALUES (?, ?)", [key, value])

    # ------------------------------------------------------------------ cells
    def finished_ids(self) -> set[str]:
        return {r[0] for r in self.con.execute("SELECT cell_id FROM cells").fetchall()}

    def write_cell(self, result: dict[str, Any]) -> None:
        """Write one finished cell and its runs in one transaction (all or nothing)."""
        cell = dict(result["cell"])
        cell["config"] = canonical_json(cell["config"])
        runs = result["runs"]
        with self._transaction():
            self.con.execute(
                f"INSERT INTO cells ({', '.join(CELL_COLUMNS)}) VALUES "
                f"({', '.join('?' * len(CELL_COLUMNS))})",
                [cell[k] for k in CELL_COLUMNS],
            )
            cols = list(RUN_COLUMNS)
            self.con.executemany(
                f"INSERT INTO runs (cell_id, {', '.join(cols)}) VALUES "
                f"(?, {', '.join('?' * len(cols))})",
                [[cell["cell_id"], *(r[k] for k in cols)] for r in runs],
            )

    def _transaction(self) -> _Tx:
        return _Tx(self.con)

    # ------------------------------------------------------------------ reading
    def query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, list(params)).fetchall()

    def cells_table(self) -> list[dict[str, Any]]:
        cur = self.con.execute(f"SELECT {', '.join(CELL_COLUMNS)} FROM cells ORDER BY cell_id")
        out = []
        for row in cur.fetchall():
            d = dict(zip(CELL_COLUMNS, row, strict=True))
            d["config"] = json.loads(d["config"])
            out.append(d)
        return out

    def runs_table(self) -> list[dict[str, Any]]:
        cur = self.con.execute("SELECT * FROM runs ORDER BY cell_id, start")
        names = [c[0] for c in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def export_parquet(self, folder: str | os.PathLike[str]) -> list[Path]:
        """Write ``cells.parquet``, ``runs.parquet`` and ``spec.parquet`` into ``folder``
        (each written to a temporary name, then renamed)."""
        out_dir = Path(folder)
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = []
        for table in ("spec", "cells", "runs"):
            final = out_dir / f"{table}.parquet"
            tmp = out_dir / f".{table}.parquet.tmp"
            self.con.execute(f"COPY {table} TO '{_sql_path(tmp)}' (FORMAT PARQUET)")
            os.replace(tmp, final)
            paths.append(final)
        return paths


def _sql_path(p: Path) -> str:
    s = str(p)
    if "'" in s:
        raise StoreError(f"a path with a quote cannot be exported to: {s}")
    return s


def _settings_diff(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return ", ".join(f"{k}: store {old.get(k)!r}, spec {new.get(k)!r}" for k in keys)


class _Tx:
    """BEGIN ... COMMIT, ROLLBACK on any exception (KeyboardInterrupt included)."""

    def __init__(self, con: Any) -> None:
        self.con = con

    def __enter__(self) -> None:
        self.con.execute("BEGIN TRANSACTION")

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.con.execute("COMMIT")
        else:
            try:
                self.con.execute("ROLLBACK")
            except Exception:  # pragma: no cover - a failed BEGIN leaves nothing to undo
                pass
