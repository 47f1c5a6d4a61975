"""Typed keys for everything stored on the aiohttp application.

Handlers import these, never ``app.py``: the composition root stays the only
place that builds things. The types are imported for the type checker only, so
importing a key loads nothing else (no import cycle through ``web``, and a
handler's module does not pull in the whole application).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from sitewatch.alerts.service import Alerting
    from sitewatch.checker.service import Checker
    from sitewatch.metrics import Metrics
    from sitewatch.reconcile.follower import Follower
    from sitewatch.reconcile.service import Reconciler
    from sitewatch.services.cluster import Cluster
    from sitewatch.services.configedit import ConfigEditor
    from sitewatch.services.gitwrite import RemoteEditor
    from sitewatch.settings import Settings
    from sitewatch.store.engine import Engine
    from sitewatch.supervisor import Supervisor
    from sitewatch.web.access import FailureLimiter
    from sitewatch.web.auth import TokenPolicy
    from sitewatch.web.cache import ResponseCache
    from sitewatch.web.dashboard.live import LiveHub
    from sitewatch.web.dashboard.render import Dashboard
    from sitewatch.web.statuspages.publisher import Publisher

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
ENGINE: web.AppKey[Engine] = web.AppKey("engine")
RECONCILER: web.AppKey[Reconciler] = web.AppKey("reconciler")
# Set only when the config comes from a followed git remote (SITEWATCH_GIT_URL).
FOLLOWER: web.AppKey[Follower] = web.AppKey("git_follower")
CHECKER: web.AppKey[Checker] = web.AppKey("checker")
ALERTING: web.AppKey[Alerting] = web.AppKey("alerting")
# A folder's editor, or a followed remote's (writes are pushed commits).
EDITOR: web.AppKey[ConfigEditor | RemoteEditor] = web.AppKey("editor")
CACHE: web.AppKey[ResponseCache[bytes]] = web.AppKey("response_cache")
ENVIRON: web.AppKey[Mapping[str, str]] = web.AppKey("environ")
DASHBOARD: web.AppKey[Dashboard] = web.AppKey("dashboard")
LIVE: web.AppKey[LiveHub] = web.AppKey("live_hub")
STATUS_PAGES: web.AppKey[Publisher] = web.AppKey("status_pages")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
CLUSTER: web.AppKey[Cluster] = web.AppKey("cluster")
SUPERVISOR: web.AppKey[Supervisor] = web.AppKey("supervisor")
POLICY: web.AppKey[TokenPolicy] = web.AppKey("token_policy")
LIMITER: web.AppKey[FailureLimiter] = web.AppKey("failure_limiter")
# The server's secret that heartbeat ping URLs are derived from (shared by instances).
PING_SECRET: web.AppKey[bytes] = web.AppKey("ping_secret")
