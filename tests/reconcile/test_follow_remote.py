"""Following a git remote with real remotes on loopback (file://, git daemon, smart
HTTP with a token): good commits applied in order, a bad commit refused with its
file:line while the last good one stays, a good commit after a bad one, a
force-push, the remote away for a while, a restart; and the push webhook."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import re
import tarfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from sitewatch.reconcile.follower import Follower
from sitewatch.reconcile.gitremote import DEPTH, GitRemote, RemoteSpec, _extract
from sitewatch.reconcile.service import Reconciler
from sitewatch.services.cluster import Cluster
from sitewatch.store import catalog, runs
from sitewatch.store.engine import create_engine
from sitewatch.store.migrate import upgrade
from sitewatch.web.hooks import signed
from tests.appclient import Client, start_client
from tests.gitservers import IDENTITY, GitDaemon, SmartHttp, SshServer, Upstream, git
from tests.waiting import eventually


def monitors(*names: str, interval: str = "30s") -> str:
    text = "websites:\n"
    for name in names:
        text += (
            f"  - name: {name}\n    url: https://{name}.example.com/\n    interval: {interval}\n"
        )
    return text


def follower(engine: AsyncEngine, root: Path, spec: RemoteSpec) -> Follower:
    remote = GitRemote(spec, root)
    reconciler = Reconciler(engine, remote.root / "served", {})
    return Follower(remote, reconciler, {}, poll=3600)


async def websites(engine: AsyncEngine) -> list[str]:
    """The websites in the config (archived ones are not)."""
    async with engine.connect() as conn:
        return sorted(w.key for w in await catalog.active_websites(conn, with_spec=False))


async def test_commits_are_applied_in_order_and_a_bad_one_never_removes_anything(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    up = Upstream(tmp_path / "remote")
    first = up.commit({"config/monitors.yaml": monitors("shop")}, "shop")
    f = follower(engine, tmp_path / "sw", RemoteSpec(up.url, path="config"))
    await f.sync("test")
    assert f.status.applied == f.status.fetched == first
    assert await websites(engine) == ["shop"]
    assert f.reconciler.status.applied is not None
    assert f.reconciler.status.applied.git_commit == first

    # Two commits in one fetch: each applied in turn (the run log has both).
    up.commit({"config/monitors.yaml": monitors("shop", "blog")}, "blog")
    third = up.commit({"config/monitors.yaml": monitors("shop", "blog", "api")}, "api")
    await f.sync("test")
    assert f.status.applied == third
    assert await websites(engine) == ["api", "blog", "shop"]

    # A bad commit: refused with its file:line:col, nothing removed.
    bad = up.commit({"config/monitors.yaml": monitors("shop", interval="1s")}, "oops")
    await f.sync("test")
    assert f.status.applied == third and f.status.attempted == bad
    assert f.status.attempted_errors == (
        'config/monitors.yaml:4:15: websites[0].interval: must be at least 5s (got "1s")',
    )
    assert await websites(engine) == ["api", "blog", "shop"]
    assert (tmp_path / "sw" / "served").resolve() == (tmp_path / "sw" / "trees" / third / "config")
    tried_at = f.status.attempted_at
    await f.sync("test")  # the same refused commit is not tried again
    assert f.status.attempted == bad and f.status.attempted_at == tried_at

    # A commit that empties the config is refused by the reconciler (no
    # allow_empty): the served folder goes back to the last good commit.
    emptied = up.commit({"config/monitors.yaml": "websites: []\n"}, "empty")
    await f.sync("test")
    assert f.status.attempted == emptied and f.status.applied == third
    assert "allow_empty" in " ".join(f.status.attempted_errors)
    assert (tmp_path / "sw" / "served").resolve() == (tmp_path / "sw" / "trees" / third / "config")
    assert await websites(engine) == ["api", "blog", "shop"]

    # A good commit after the bad one is applied.
    fixed = up.commit({"config/monitors.yaml": monitors("shop", "blog")}, "fix")
    await f.sync("test")
    assert f.status.applied == fixed and f.status.attempted_errors == ()
    assert await websites(engine) == ["blog", "shop"]

    # A force-push that rewrites history: the new tip is applied.
    rewritten = up.rewrite({"config/monitors.yaml": monitors("shop", "docs")}, "rewritten")
    await f.sync("test")
    assert f.status.applied == rewritten
    assert await websites(engine) == ["docs", "shop"]
    # Only the served commit's tree is kept.
    assert [p.name for p in (tmp_path / "sw" / "trees").iterdir()] == [rewritten]


async def test_a_commit_with_a_link_out_of_the_repository_is_refused(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    up = Upstream(tmp_path / "remote")
    good = up.commit({"monitors.yaml": monitors("shop")}, "shop")
    f = follower(engine, tmp_path / "sw", RemoteSpec(up.url))
    await f.sync("test")
    (up.work / "monitors.d").mkdir()
    (up.work / "monitors.d" / "more.yaml").symlink_to("/etc/passwd")
    bad = up.commit({}, "a link out")
    await f.sync("test")  # refused with the reason, never a crash
    assert f.status.applied == good and f.status.attempted == bad
    assert f.status.attempted_errors == (
        "the commit cannot be checked out safely: monitors.d/more.yaml: a symbolic link "
        "out of the repository (/etc/passwd)",
    )
    assert await websites(engine) == ["shop"]


@pytest.mark.parametrize("data_filter", [True, False], ids=["3.11.4+", "3.11.0-3"])
def test_checkout_keeps_every_entry_inside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_filter: bool
) -> None:
    """With or without Python's tar "data" filter (Debian 12's 3.11.2 has none)."""
    if not data_filter:
        monkeypatch.delattr(tarfile, "data_filter")

    def archive(*entries: tarfile.TarInfo) -> bytes:
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w") as tar:
            for entry in entries:
                tar.addfile(entry, io.BytesIO(b"x" * entry.size) if entry.isfile() else None)
        return out.getvalue()

    def entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.linkname, info.size = kind, link, 1 if kind == tarfile.REGTYPE else 0
        return info

    good = archive(
        entry("config/monitors.yaml"), entry("config/m.yaml", tarfile.SYMTYPE, "monitors.yaml")
    )
    assert _extract(good, tmp_path / "good", "config") == (tmp_path / "good" / "config").resolve()
    assert (tmp_path / "good" / "config" / "m.yaml").read_text() == "x"
    for n, bad in enumerate(
        [
            entry("../escape"),
            entry("/etc/cron.d/x"),
            entry("config/up", tarfile.SYMTYPE, "../../.."),
            entry("config/abs", tarfile.SYMTYPE, "/etc/passwd"),
            entry("config/hard", tarfile.LNKTYPE, "/etc/passwd"),
            entry("config/fifo", tarfile.FIFOTYPE),
        ]
    ):
        with pytest.raises(tarfile.TarError):
            _extract(archive(bad), tmp_path / f"bad{n}", "config")
    assert not (tmp_path / "escape").exists()


async def test_the_remote_away_for_a_while_and_a_restart(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    up = Upstream(tmp_path / "remote")
    first = up.commit({"monitors.yaml": monitors("shop")}, "shop")
    f = follower(engine, tmp_path / "sw", RemoteSpec(up.url))
    await f.sync("test")
    assert f.status.applied == first
    away = up.bare.rename(tmp_path / "remote" / "moved.git")
    await f.sync("test")
    assert f.status.fetch_error is not None and "git fetch" in f.status.fetch_error
    assert f.status.applied == first and await websites(engine) == ["shop"]
    away.rename(up.bare)
    second = up.commit({"monitors.yaml": monitors("shop", "blog")}, "blog")
    await f.sync("test")
    assert f.status.fetch_error is None and f.status.applied == second
    # A new process on the same folder knows what it served.
    again = follower(engine, tmp_path / "sw", RemoteSpec(up.url))
    assert again.status.applied == second
    await again.sync("test")
    assert again.status.applied == second and await websites(engine) == ["blog", "shop"]


async def test_the_clone_is_shallow_and_still_applies_every_new_commit(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    up = Upstream(tmp_path / "remote")
    for n in range(DEPTH + 20):  # a longer history than sitewatch keeps
        up.commit({"monitors.yaml": monitors("shop"), "CHANGES": f"{n}\n"}, f"change {n}")
    f = follower(engine, tmp_path / "sw", RemoteSpec(up.url))
    await f.sync("test")
    clone = tmp_path / "sw" / "repo.git"
    assert git("rev-parse", "--is-shallow-repository", cwd=clone) == "true"
    assert int(git("rev-list", "--count", "--all", cwd=clone)) == DEPTH
    # Three new commits: each is applied in turn, as in a full clone.
    new = [
        up.commit({"monitors.yaml": monitors("shop", *names)}, "more")
        for names in (["blog"], ["blog", "api"], ["api"])
    ]
    await f.sync("test")
    assert f.status.applied == new[-1]
    async with engine.connect() as conn:
        history = await runs.recent(conn, limit=3)
    assert [r.git_commit for r in history] == new[::-1]
    assert int(git("rev-list", "--count", "--all", cwd=clone)) == DEPTH
    assert await websites(engine) == ["api", "shop"]


async def test_git_daemon_and_smart_http_with_a_token(engine: AsyncEngine, tmp_path: Path) -> None:
    up = Upstream(tmp_path / "remote")
    sha = up.commit({"monitors.yaml": monitors("shop")}, "shop")
    async with GitDaemon(tmp_path / "remote") as daemon:
        f = follower(engine, tmp_path / "daemon", RemoteSpec(daemon.url("shop.git")))
        await f.sync("test")
        assert f.status.applied == sha
    async with SmartHttp(tmp_path / "remote", "git", "s3cr3t-t0ken") as http:
        bare = follower(engine, tmp_path / "anon", RemoteSpec(http.url("shop.git")))
        await bare.sync("test")
        assert bare.status.applied is None and bare.status.fetch_error is not None
        spec = RemoteSpec(http.url("shop.git"), token="s3cr3t-t0ken")
        f = follower(engine, tmp_path / "http", spec)
        await f.sync("test")
        assert f.status.applied == sha
        assert http.refused >= 1
    assert "s3cr3t-t0ken" not in json.dumps(f.status.to_dict())


async def test_an_ssh_remote_with_a_key_and_its_host_key_checked(
    engine: AsyncEngine, tmp_path: Path, require_tool: Callable[[str, str], Path]
) -> None:
    sshd = require_tool("sshd", "openssh-server")
    require_tool("ssh", "openssh-client")
    up = Upstream(tmp_path / "remote")
    sha = up.commit({"monitors.yaml": monitors("shop")}, "shop")
    async with SshServer(tmp_path / "ssh", sshd) as server:
        spec = RemoteSpec(
            server.url(up.bare), ssh_key=server.client_key, known_hosts=server.known_hosts
        )
        f = follower(engine, tmp_path / "sw", spec)
        await f.sync("test")
        assert f.status.fetch_error is None and f.status.applied == sha
        assert await websites(engine) == ["shop"]
        # A push over ssh (what an API write does after its commit).
        folder = await f.remote.work_at(sha)
        (folder / "monitors.yaml").write_text(monitors("shop", "blog"))
        git("add", "-A", cwd=folder)
        git(*IDENTITY, "commit", "-q", "-m", "blog", cwd=folder)
        await f.remote.push("main")
        assert up.log()[0] == ("Ada", "blog")
        await f.sync("test")
        assert await websites(engine) == ["blog", "shop"]

        # A host key other than the known one: refused, nothing applied.
        (tmp_path / "other_hosts").write_text(
            f"[127.0.0.1]:{server.port} ssh-ed25519 "
            "AAAAC3NzaC1lZDI1NTE5AAAAIDk0Kk1M3cVqVdT1PZbQ0D2bXh3z6mM0uJm3JxWv4l1Q\n"
        )
        spoofed = follower(
            engine, tmp_path / "spoofed", replace(spec, known_hosts=tmp_path / "other_hosts")
        )
        await spoofed.sync("test")
        assert spoofed.status.applied is None
        assert "Host key verification failed" in (spoofed.status.fetch_error or "")
        # Without the key: refused too, and nothing waits for a password.
        keyless = follower(engine, tmp_path / "keyless", replace(spec, ssh_key=None))
        await keyless.sync("test")
        assert keyless.status.applied is None
        assert "Permission denied" in (keyless.status.fetch_error or "")


def test_credentials_are_never_shown() -> None:
    spec = RemoteSpec("https://ada:hunter22@git.example.com/ops/config.git", token="tok3n-abc")
    assert spec.shown_url == "https://git.example.com/ops/config.git"
    remote = GitRemote(spec, Path("/nonexistent"))
    said = remote.scrub(
        "fatal: unable to access 'https://ada:hunter22@git.example.com/ops/config.git/': tok3n-abc"
    )
    assert "hunter22" not in said and "tok3n-abc" not in said
    assert RemoteSpec("git@github.com:ops/config.git").shown_url == "github.com:ops/config.git"


async def following(up: Upstream, tmp_path: Path, database_url: str, **settings: Any) -> Client:
    """The app following ``up``'s config folder, fetching only when told (a webhook,
    a write): the poll is an hour, so nothing fetches behind the test's back."""
    return await start_client(
        tmp_path / "unused",
        database_url,
        git_url=up.url,
        git_path="config",
        git_dir=tmp_path / "sw",
        git_poll=3600,
        **settings,
    )


def github(body: bytes, secret: str) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={digest}"}


@pytest.mark.slow
async def test_a_push_webhook_applies_the_commit_at_once(tmp_path: Path, database_url: str) -> None:
    up = Upstream(tmp_path / "remote")
    first = up.commit({"config/monitors.yaml": monitors("shop")}, "shop")
    client = await following(
        up,
        tmp_path,
        database_url,
        git_webhook_secret="hook-secret",
    )
    try:
        config = await (await client.get("/api/config")).json()
        assert config["git"]["applied_commit"] == first
        assert config["read_only"] is False  # writes are pushed commits (below)
        second = up.commit({"config/monitors.yaml": monitors("shop", "blog")}, "blog")
        push = json.dumps({"ref": "refs/heads/main", "after": second}).encode()
        wrong = await client.post("/hooks/git", data=push, headers=github(push, "not-it"))
        assert wrong.status == 401
        other = json.dumps({"ref": "refs/heads/feature"}).encode()
        ignored = await client.post("/hooks/git", data=other, headers=github(other, "hook-secret"))
        assert ignored.status == 202 and (await ignored.json())["status"] == "ignored"
        ok = await client.post("/hooks/git", data=push, headers=github(push, "hook-secret"))
        assert ok.status == 202 and (await ok.json())["status"] == "fetching"

        async def applied(sha: str) -> bool:
            body = await (await client.get("/api/config")).json()
            return bool(body["git"]["applied_commit"] == sha)

        await eventually(lambda: applied(second), what="the pushed commit applied")
        listed = await (await client.get("/api/websites")).json()
        assert sorted(w["key"] for w in listed["items"]) == ["blog", "shop"]
        # GitLab's token and Gitea's signature work the same way.
        third = up.commit({"config/monitors.yaml": monitors("shop")}, "drop blog")
        push = json.dumps({"ref": "refs/heads/main"}).encode()
        gitlab = await client.post(
            "/hooks/git",
            data=push,
            headers={"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "hook-secret"},
        )
        assert gitlab.status == 202
        await eventually(lambda: applied(third), what="the GitLab push applied")
        fourth = up.commit({"config/monitors.yaml": monitors("shop", "api")}, "api")
        signature = hmac.new(b"hook-secret", push, hashlib.sha256).hexdigest()
        gitea = await client.post(
            "/hooks/git",
            data=push,
            headers={"X-Gitea-Event": "push", "X-Gitea-Signature": signature},
        )
        assert gitea.status == 202
        await eventually(lambda: applied(fourth), what="the Gitea push applied")
        # A bad commit shows on /health with its file:line, and the last good stays.
        bad = up.commit(
            {"config/monitors.yaml": "websites:\n  - name: shop\n    interval: 1s\n"}, "bad"
        )
        await client.post("/hooks/git", data=push, headers=github(push, "hook-secret"))

        async def refused() -> bool:
            # attempted_commit is set as the try starts; its errors once it is judged
            # (on a busy machine the validation between them takes a while).
            git = (await (await client.get("/health")).json())["config"]["git"]
            return bool(git["attempted_commit"] == bad and git["attempted_errors"])

        await eventually(refused, what="the bad commit refused")
        health = await (await client.get("/health")).json()
        assert health["status"] == "degraded"
        assert health["config"]["git"]["applied_commit"] == fourth
        assert health["config"]["git"]["attempted_errors"][0].startswith("config/monitors.yaml:")
        settings = await (await client.get("/settings")).text()
        assert up.url in settings and bad[:12] in settings and "config/monitors.yaml:" in settings
        metrics = await (await client.get("/metrics")).text()
        assert "sitewatch_git_commit_refused 1.0" in metrics
        assert 'sitewatch_git_fetches_total{result="success"}' in metrics
    finally:
        await client.close()


TOKEN = "w" * 40


@pytest.mark.slow
async def test_api_writes_are_commits_pushed_to_the_remote(
    tmp_path: Path, database_url: str
) -> None:
    up = Upstream(tmp_path / "remote")
    up.commit({"config/monitors.yaml": monitors("shop")}, "shop")
    tokens = tmp_path / "tokens"
    tokens.write_text(f"write ci-bot {TOKEN}\n")
    client = await following(
        up,
        tmp_path,
        database_url,
        api_tokens_file=tokens,
    )
    auth = {"Authorization": f"Bearer {TOKEN}"}

    async def keys() -> list[str]:
        listed = await (await client.get("/api/websites", headers=auth)).json()
        return sorted(w["key"] for w in listed["items"])

    try:
        config = await (await client.get("/api/config", headers=auth)).json()
        assert config["read_only"] is False
        made = await client.post(
            "/api/websites", json={"name": "blog", "url": "https://blog.example.com/"}, headers=auth
        )
        assert made.status == 201, await made.text()
        # Acknowledged once pushed: the commit is in the remote, by the token's name,
        # and applied.
        assert up.log()[0] == (
            "ci-bot (API token)",
            "sitewatch API: create website blog in monitors.yaml",
        )
        config = await (await client.get("/api/config", headers=auth)).json()
        assert config["git"]["applied_commit"] == git("rev-parse", "main", cwd=up.bare)
        assert await keys() == ["blog", "shop"]

        # Someone else pushed another entry meanwhile: the edit is made again on
        # top of theirs, and both survive.
        up.pull()
        up.commit(
            {"config/monitors.yaml": up.show("config/monitors.yaml") + monitors("docs")[10:]},
            "docs",
        )
        patched = await client.patch("/api/websites/blog", json={"interval": "45s"}, headers=auth)
        assert patched.status == 200, await patched.text()
        text = up.show("config/monitors.yaml")
        assert "name: docs" in text and "interval: 45s" in text
        assert await keys() == ["blog", "docs", "shop"]

        # The same entry changed both ways: 409, with the value it has upstream.
        up.pull()
        up.commit(
            {
                "config/monitors.yaml": up.show("config/monitors.yaml").replace(
                    "interval: 30s", "interval: 2m", 1
                )
            },
            "shop every 2m",
        )
        before = up.log()
        clash = await client.patch("/api/websites/shop", json={"interval": "90s"}, headers=auth)
        assert clash.status == 409
        detail = (await clash.json())["detail"]
        assert "changed in the git remote" in detail and '"interval": "2m"' in detail
        assert up.log() == before  # nothing pushed

        # The remote away: the write is refused and nothing is only local.
        away = up.bare.rename(tmp_path / "remote" / "away.git")
        refused = await client.post(
            "/api/websites", json={"name": "api", "url": "https://api.example.com/"}, headers=auth
        )
        assert refused.status == 409 and "nothing was written" in (await refused.json())["detail"]
        away.rename(up.bare)
        assert up.log() == before
        assert "api" not in await keys()
    finally:
        await client.close()


async def test_two_instances_serve_the_same_commit(engine: AsyncEngine, tmp_path: Path) -> None:
    up = Upstream(tmp_path / "remote")
    up.commit({"monitors.yaml": monitors("shop")}, "shop")
    second = up.commit({"monitors.yaml": monitors("shop", "blog")}, "blog")
    one = follower(engine, tmp_path / "one", RemoteSpec(up.url))
    other = follower(engine, tmp_path / "other", RemoteSpec(up.url))
    await asyncio.gather(one.sync("test"), other.sync("test"))
    assert one.status.applied == other.status.applied == second
    assert await websites(engine) == ["blog", "shop"]
    applied = [r for r in (one.reconciler.status.applied, other.reconciler.status.applied) if r]
    assert {r.git_commit for r in applied} == {second}


async def test_the_database_never_goes_back_to_an_older_commit(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """An instance whose fetch is older than the leader's does not apply its older
    commit over the leader's newer one; it catches up with the database instead."""
    up = Upstream(tmp_path / "remote")
    first = up.commit({"monitors.yaml": monitors("shop")}, "shop")
    leader = follower(engine, tmp_path / "leader", RemoteSpec(up.url))
    late = follower(engine, tmp_path / "late", RemoteSpec(up.url))
    late.leads = lambda: False
    await asyncio.gather(leader.sync("test"), late.sync("test"))
    stale = up.commit({"monitors.yaml": monitors("shop", "blog")}, "blog")
    await late.remote.fetch()  # the late instance fetched before the next push...
    newest = up.commit({"monitors.yaml": monitors("shop", "api")}, "api instead")
    await leader.sync("test")  # ...and the leader after it
    assert await websites(engine) == ["api", "shop"]

    late.status.fetched = stale
    assert await late._apply(stale, "test") == "unknown"  # newer than what it knows
    assert await websites(engine) == ["api", "shop"]
    assert late.status.applied == first
    assert (tmp_path / "late" / "served").resolve() == (tmp_path / "late" / "trees" / first)

    # Not leading, it follows the database: fetches, skips the older commit
    # ("behind"), serves the leader's.
    await late.follow_database()
    assert late.status.applied == newest
    async with engine.connect() as conn:
        history = await runs.recent(conn, limit=10, applied_only=True)
    # The leader applied each commit in turn; nothing went back after that.
    assert [r.git_commit for r in history][::-1] == [first, stale, newest]
    assert await websites(engine) == ["api", "shop"]

    # A commit that only touches other files is recorded too: both serve it.
    docs = up.commit({"README.md": "the monitors\n"}, "readme")
    await leader.sync("test")
    await late.follow_database()
    assert leader.status.applied == late.status.applied == docs

    # A force-push back to older content is applied (not "behind": the newer
    # commit is gone from the branch).
    git("reset", "-q", "--hard", first, cwd=up.work)
    git("push", "-q", "--force", "origin", "HEAD:refs/heads/main", cwd=up.work)
    await leader.sync("test")
    assert leader.status.applied == first and await websites(engine) == ["shop"]
    await late.follow_database()
    assert late.status.applied == first


class Counting(Follower):
    """A follower that counts its rounds of reading the database's commit."""

    rounds = 0

    async def follow_database(self) -> None:
        self.rounds += 1
        await super().follow_database()


@pytest.mark.slow
async def test_an_instance_that_does_not_lead_fetches_only_when_the_commit_moved(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    up = Upstream(tmp_path / "remote")
    first = up.commit({"monitors.yaml": monitors("shop")}, "shop")
    leader = follower(engine, tmp_path / "leader", RemoteSpec(up.url))
    await leader.sync("test")
    remote = GitRemote(RemoteSpec(up.url), tmp_path / "other")
    other = Counting(remote, Reconciler(engine, remote.root / "served", {}), {}, poll=1)
    other.leads = lambda: False
    stop = asyncio.Event()
    task = asyncio.create_task(other.run(stop))
    try:
        await eventually(lambda: other.status.applied == first, what="the first sync")
        fetches = other.status.fetches["success"]
        rounds = other.rounds
        await eventually(lambda: other.rounds >= rounds + 3, what="three rounds")
        assert other.status.fetches["success"] == fetches  # a poll of 1 s, not leading
        second = up.commit({"monitors.yaml": monitors("shop", "blog")}, "blog")
        await leader.sync("test")
        await eventually(lambda: other.status.applied == second, what="the leader's commit")
        assert other.status.fetches["success"] == fetches + 1
        assert not other.status.leads
    finally:
        stop.set()
        await task


@pytest.mark.postgres
async def test_the_oldest_instance_leads(postgres_url: str) -> None:
    eng = create_engine(postgres_url)
    await upgrade(eng)
    try:
        first, second = Cluster(eng, "all"), Cluster(eng, "web")
        await first.step()
        await second.step()
        await first.step()
        assert first.leads() and not second.leads()
        await first.leave()
        await second.step()
        assert second.leads()
    finally:
        await eng.dispose()


@pytest.mark.parametrize(
    ("headers", "forge"),
    [
        (
            {"X-Hub-Signature-256": "sha256=" + hmac.new(b"k", b"{}", hashlib.sha256).hexdigest()},
            "github",
        ),
        ({"X-Gitea-Signature": hmac.new(b"k", b"{}", hashlib.sha256).hexdigest()}, "gitea"),
        ({"X-Forgejo-Signature": hmac.new(b"k", b"{}", hashlib.sha256).hexdigest()}, "forgejo"),
        ({"X-Gitlab-Token": "k"}, "gitlab"),
        (
            {"X-Hub-Signature-256": "sha256=" + hmac.new(b"x", b"{}", hashlib.sha256).hexdigest()},
            None,
        ),
        ({"X-Hub-Signature-256": hmac.new(b"k", b"{}", hashlib.sha256).hexdigest()}, None),
        ({"X-Gitlab-Token": "K"}, None),
        ({}, None),
    ],
)
def test_each_forge_signature_and_nothing_else(headers: dict[str, str], forge: str | None) -> None:
    assert signed(headers, b"{}", "k") == forge


@pytest.mark.slow
async def test_writes_to_a_review_branch_wait_there_until_merged(
    tmp_path: Path, database_url: str
) -> None:
    up = Upstream(tmp_path / "remote")
    first = up.commit({"config/monitors.yaml": monitors("shop")}, "shop")
    client = await following(
        up,
        tmp_path,
        database_url,
        git_push_branch="sitewatch-edits",
        git_webhook_secret="hook-secret",
    )

    def branch(name: str) -> list[str]:
        return git("rev-list", "--first-parent", name, cwd=up.bare).split()

    try:
        config = await (await client.get("/api/config")).json()
        assert config["git"]["push_branch"] == "sitewatch-edits" and config["git"]["leads"]
        made = await client.post(
            "/api/websites", json={"name": "blog", "url": "https://blog.example.com/"}
        )
        assert made.status == 202, await made.text()
        proposal = await made.json()
        assert proposal["status"] == "proposed" and proposal["branch"] == "sitewatch-edits"
        # A commit on the review branch, on top of the applied one; nothing applied.
        assert branch("sitewatch-edits")[:2] == [proposal["commit"], first]
        assert branch("main") == [first]
        listed = await (await client.get("/api/websites")).json()
        assert [w["key"] for w in listed["items"]] == ["shop"]

        # A second write waits on top of the first; If-Match is what was read.
        shop = await client.get("/api/websites/shop")
        stale = await client.patch(
            "/api/websites/shop", json={"interval": "45s"}, headers={"If-Match": '"nope"'}
        )
        assert stale.status == 412
        patched = await client.patch(
            "/api/websites/shop",
            json={"interval": "45s"},
            headers={"If-Match": shop.headers["ETag"]},
        )
        assert patched.status == 202, await patched.text()
        second = (await patched.json())["commit"]
        assert branch("sitewatch-edits")[:3] == [second, proposal["commit"], first]

        # A dashboard form says so, on the settings page.
        page = await (await client.get("/websites/new")).text()
        token = re.search(r'name="csrf" value="([^"]+)"', page)
        assert token is not None
        form = await client.post(
            "/websites/new",
            data={"csrf": token.group(1), "name": "api", "url": "https://api.example.com/"},
            allow_redirects=False,
        )
        assert form.status == 303 and form.headers["Location"] == "/settings?notice=proposed"
        settings = await (await client.get("/settings?notice=proposed")).text()
        assert "Proposed for review" in settings and "sitewatch-edits" in settings

        # The team merges the branch: the next fetch applies all three edits.
        git("fetch", "-q", "origin", cwd=up.work)
        git("merge", "-q", "--ff-only", "origin/sitewatch-edits", cwd=up.work)
        git("push", "-q", "origin", "HEAD:refs/heads/main", cwd=up.work)
        push = json.dumps({"ref": "refs/heads/main"}).encode()
        hook = await client.post("/hooks/git", data=push, headers=github(push, "hook-secret"))
        assert hook.status == 202
        merged = branch("main")[0]

        async def applied() -> bool:
            body = await (await client.get("/api/config")).json()
            return bool(body["git"]["applied_commit"] == merged)

        await eventually(applied, what="the merged review branch applied")
        listed = await (await client.get("/api/websites")).json()
        assert sorted(w["key"] for w in listed["items"]) == ["api", "blog", "shop"]
        # The next write starts again from what is applied.
        again = await client.delete("/api/websites/api")
        assert again.status == 202, await again.text()
        assert branch("sitewatch-edits")[:2] == [(await again.json())["commit"], merged]
    finally:
        await client.close()
