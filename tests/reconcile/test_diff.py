"""The diff is pure: table-driven, no database."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitewatch.config.entries import Snapshot
from sitewatch.config.loader import load_config
from sitewatch.reconcile.diff import desired_websites, field_changes, plan, plan_table, would_wipe
from sitewatch.store.catalog import RowState
from tests.factories import monitors_yaml, write


def snapshot(config_dir: Path, keys: list[str], *, header: str = "") -> Snapshot:
    write(config_dir, "monitors.yaml", monitors_yaml(keys, header=header))
    return load_config(config_dir, {})


def rows(
    snap: Snapshot, *, archived: set[str] = frozenset(), stale: set[str] = frozenset()
) -> list[RowState]:  # type: ignore[assignment]
    desired = desired_websites(snap)
    return [
        RowState(i, key, "old" if key in stale else d.spec_hash, d.source_file, key in archived)
        for i, (key, d) in enumerate(desired.items(), start=1)
    ]


def test_everything_new(config_dir: Path) -> None:
    snap = snapshot(config_dir, ["a", "b"])
    p = plan_table(desired_websites(snap), [])
    assert [(c.kind, c.key) for c in p.changes] == [("create", "a"), ("create", "b")]


def test_idempotent(config_dir: Path) -> None:
    snap = snapshot(config_dir, ["a", "b"])
    p = plan(snap, rows(snap), [], set())
    assert p.is_empty and p.counts()["unchanged"] == 2


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ({"stale": {"a"}}, [("update", "a")]),
        ({"archived": {"a"}}, [("restore", "a")]),
    ],
)
def test_update_and_restore(
    config_dir: Path, state: dict[str, set[str]], expected: list[tuple[str, str]]
) -> None:
    snap = snapshot(config_dir, ["a", "b"])
    p = plan_table(desired_websites(snap), rows(snap, **state))
    assert [(c.kind, c.key) for c in p.changes] == expected
    assert p.unchanged == 1


def test_delete_archives_only_live_rows(config_dir: Path) -> None:
    snap = snapshot(config_dir, ["a"])
    actual = [
        RowState(1, "a", desired_websites(snap)["a"].spec_hash, "x", False),
        RowState(2, "gone", "h", "x", False),
        RowState(3, "old", "h", "x", True),
    ]
    actual[0] = RowState(
        1,
        "a",
        desired_websites(snap)["a"].spec_hash,
        desired_websites(snap)["a"].source_file,
        False,
    )
    p = plan_table(desired_websites(snap), actual)
    assert [(c.kind, c.key, c.row_id) for c in p.changes] == [("delete", "gone", 2)]


def test_moving_an_entry_to_another_file_is_an_update(config_dir: Path) -> None:
    snap = snapshot(config_dir, ["a"])
    d = desired_websites(snap)["a"]
    p = plan_table(
        desired_websites(snap), [RowState(1, "a", d.spec_hash + "x", "other.yaml", False)]
    )
    assert [c.kind for c in p.changes] == ["update"]


def test_bindings_diff(config_dir: Path) -> None:
    snap = snapshot(config_dir, ["a"])
    p = plan(snap, rows(snap), [], {("a", "gone-alert")})
    assert p.bindings_removed == {("a", "gone-alert")} and not p.bindings_added


@pytest.mark.parametrize(
    ("keys", "allow_empty", "live_rows", "wipe"),
    [([], False, 1, True), ([], True, 1, False), ([], False, 0, False), (["a"], False, 1, False)],
)
def test_would_wipe(
    config_dir: Path, keys: list[str], allow_empty: bool, live_rows: int, wipe: bool
) -> None:
    header = "allow_empty: true\n" if allow_empty else ""
    snap = snapshot(config_dir, keys, header=header)
    actual = [RowState(1, "x", "h", "f", False)] * live_rows + [RowState(2, "y", "h", "f", True)]
    assert would_wipe(snap, actual) is wipe


def test_field_changes() -> None:
    assert field_changes({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}) == {
        "b": (2, 3),
        "c": (None, 4),
    }
