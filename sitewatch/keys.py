"""Typed keys for everything stored on the aiohttp application.

Handlers import these, never ``app.py``: the composition root stays the only
place that builds things.
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from sitewatch.alerts.service import Alerting
from sitewatch.checker.service import Checker
from sitewatch.reconcile.service import Reconciler
from sitewatch.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
RECONCILER = web.AppKey("reconciler", Reconciler)
CHECKER = web.AppKey("checker", Checker)
ALERTING = web.AppKey("alerting", Alerting)
