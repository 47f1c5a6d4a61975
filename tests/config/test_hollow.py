"""A kept config tree, its validated websites hollowed out: the next load of the same
loader gives what a fresh load gives, whatever changed in between."""

from __future__ import annotations

import functools
import sys
import tempfile
import threading
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sitewatch.config.entries import Snapshot
from sitewatch.config.files import ConfigFile
from sitewatch.config.loader import ConfigLoader, load_config
from sitewatch.config.yamlread import Hollow
from sitewatch.errors import ConfigError
from tests.factories import ALERTS, monitors_yaml, write

ENV = {"TOKEN": "t0ps3cret-value"}


def outcome(load: object) -> object:
    """What a load gives, comparable: every website as stored and placed, or the problems."""
    assert callable(load)
    try:
        snapshot: Snapshot = load()
    except ConfigError as exc:
        return [p.format() for p in exc.problems]
    return {
        key: (e.stored, e.spec_hash, str(e.source), e.model.model_dump())
        for key, e in snapshot.websites.items()
    } | {"bindings": sorted(snapshot.bindings)}


def hollowed(loader: ConfigLoader, relpath: str) -> int:
    """How many websites of ``relpath``'s kept tree are hollow."""
    root = loader._composed[relpath][1].root
    assert root is not None
    for key, value in root.value:
        if key.value == "websites":
            return sum(isinstance(n, Hollow) for n in value.value)
    return 0


def test_an_unchanged_file_loads_again_from_its_hollowed_tree(config_dir: Path) -> None:
    write(config_dir, "monitors.yaml", monitors_yaml(["a", "b", "c"]))
    write(config_dir, "monitors.d/more.yaml", monitors_yaml(["d", "e"]))
    loader = ConfigLoader(config_dir, ENV)
    first = outcome(loader.load)
    assert hollowed(loader, "monitors.yaml") == 3
    assert hollowed(loader, "monitors.d/more.yaml") == 2
    assert outcome(loader.load) == first == outcome(lambda: load_config(config_dir, ENV))


def test_main_defaults_changed_reach_an_unchanged_fragment(config_dir: Path) -> None:
    write(config_dir, "monitors.yaml", "defaults:\n  timeout: 5s\n" + monitors_yaml(["a"]))
    write(config_dir, "monitors.d/more.yaml", monitors_yaml(["d"]))
    loader = ConfigLoader(config_dir, ENV)
    loader.load()
    assert hollowed(loader, "monitors.d/more.yaml") == 1
    write(config_dir, "monitors.yaml", "defaults:\n  timeout: 7s\n" + monitors_yaml(["a"]))
    snapshot = loader.load()  # the fragment's websites are needed whole again
    assert snapshot.websites["d"].model.timeout == 7.0
    assert snapshot.websites["d"].stored["timeout"] == "7s"
    assert hollowed(loader, "monitors.d/more.yaml") == 1


def test_an_error_across_files_points_into_a_hollowed_website(config_dir: Path) -> None:
    write(config_dir, "monitors.yaml", monitors_yaml(["a", "b"]) + "    alerts: [ops-hook]\n")
    write(config_dir, "alerts.yaml", ALERTS)
    loader = ConfigLoader(config_dir, ENV)
    loader.load()
    assert hollowed(loader, "monitors.yaml") == 2
    write(config_dir, "alerts.yaml", ALERTS.replace("ops-hook", "ops-hooks"))
    expected = [
        f"{config_dir}/monitors.yaml:10:14: websites[1].alerts[0]: unknown alert 'ops-hook'; "
        "did you mean 'ops-hooks'?",
    ]
    assert outcome(loader.load) == expected
    assert outcome(lambda: load_config(config_dir, ENV)) == expected


def test_an_alias_of_the_hollowed_list_is_built_from_the_text_again(config_dir: Path) -> None:
    text = monitors_yaml(["a", "b"]).replace("websites:", "websites: &all") + "copy: *all\n"
    write(config_dir, "monitors.yaml", text)
    loader = ConfigLoader(config_dir, ENV)
    first = outcome(loader.load)
    assert first == [
        f"{config_dir}/monitors.yaml:10:1: copy: unknown key 'copy'; "
        "expected one of: allow_empty, defaults, websites"
    ]
    assert hollowed(loader, "monitors.yaml") == 2
    assert outcome(loader.load) == first


def test_one_loader_shared_by_two_threads_loads_each_ones_files(config_dir: Path) -> None:
    """The reconciler and the API's editor share a loader, each loading in a worker
    thread: the editor an overlay (a file as a write would make it), the reconciler
    the folder. Each load gives what a fresh load of its files gives."""
    write(config_dir, "monitors.yaml", monitors_yaml([f"s{i}" for i in range(200)]))
    for n in range(4):  # files both load as they are
        write(config_dir, f"monitors.d/more{n}.yaml", monitors_yaml([f"d{n}", f"e{n}"]))
    loader = ConfigLoader(config_dir, ENV)
    folder, _ = loader.read()
    text = monitors_yaml([f"s{i}" for i in range(1, 200)] + ["new"]).encode()
    edited = [
        ConfigFile(f.kind, f.relpath, f.display, text) if f.relpath == "monitors.yaml" else f
        for f in folder
    ]
    cases = [
        (files, outcome(functools.partial(ConfigLoader(config_dir, ENV).load, files)))
        for files in (folder, edited)
    ]
    assert cases[0][1] != cases[1][1]
    seen: list[bool] = []

    def run(files: list[ConfigFile], want: object) -> None:
        for _ in range(200):
            seen.append(outcome(lambda: loader.load(files)) == want)

    threads = [threading.Thread(target=run, args=case) for case in cases]
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # the threads take turns every few bytecodes
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(switch)
    assert seen == [True] * 400


# Random sequences of edits: one loader through all of them against a fresh load of each.
_MAIN_DEFAULTS = st.sampled_from(["", "defaults:\n  timeout: 5s\n", "defaults:\n  interval: 1m\n"])
_SITES = st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=3)
_EXTRA = st.sampled_from(
    ["", "    alerts: [ops-hook]\n", "    alerts: [nope]\n", "    headers: {X: '${TOKEN}'}\n"]
)
_ALERTS = st.sampled_from(["", ALERTS, ALERTS.replace("ops-hook", "ops-hooks")])


@st.composite
def configs(draw: st.DrawFn) -> dict[str, str]:
    return {
        "monitors.yaml": draw(_MAIN_DEFAULTS) + monitors_yaml(draw(_SITES)) + draw(_EXTRA),
        "monitors.d/more.yaml": monitors_yaml([f"f{k}" for k in draw(_SITES)]) + draw(_EXTRA),
        "alerts.yaml": draw(_ALERTS),
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(configs(), min_size=2, max_size=4))
def test_a_kept_loader_always_agrees_with_a_fresh_load(steps: list[dict[str, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config_dir = Path(tmp)
        loader = ConfigLoader(config_dir, ENV)
        for files in steps:
            for name, text in files.items():
                write(config_dir, name, text)
            assert outcome(loader.load) == outcome(lambda: load_config(config_dir, ENV))
