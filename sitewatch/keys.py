"""Typed keys for everything stored on the aiohttp application.

Handlers import these, never ``app.py``: the composition root stays the only
place that builds things.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from sitewatch.alerts.service import Alerting
from sitewatch.checker.service import Checker
from sitewatch.metrics import Metrics
from sitewatch.reconcile.service import Reconciler
from sitewatch.services.cluster import Cluster
from sitewatch.services.configedit import ConfigEditor
from sitewatch.settings import Settings
from sitewatch.supervisor import Supervisor
from sitewatch.web.access import FailureLimiter
from sitewatch.web.auth import TokenPolicy
from sitewatch.web.cache import ResponseCache
from sitewatch.web.dashboard.live import LiveHub
from sitewatch.web.dashboard.render import Dashboard

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
RECONCILER = web.AppKey("reconciler", Reconciler)
CHECKER = web.AppKey("checker", Checker)
ALERTING = web.AppKey("alerting", Alerting)
EDITOR = web.AppKey("editor", ConfigEditor)
CACHE = web.AppKey("response_cache", ResponseCache)
ENVIRON = web.AppKey("environ", Mapping[str, str])
DASHBOARD = web.AppKey("dashboard", Dashboard)
LIVE = web.AppKey("live_hub", LiveHub)
METRICS = web.AppKey("metrics", Metrics)
CLUSTER = web.AppKey("cluster", Cluster)
SUPERVISOR = web.AppKey("supervisor", Supervisor)
POLICY = web.AppKey("token_policy", TokenPolicy)
LIMITER = web.AppKey("failure_limiter", FailureLimiter)
