"""Run one website's check now, on demand (``POST /api/websites/{id}/check``).

Uses the running checker's prober and result writer when the checker runs here,
so the result lands in the history and the alert states like any other check;
otherwise a one-off prober, and the result is only returned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from pydantic import ValidationError

from sitewatch.checker.probe import Prober
from sitewatch.checker.result import CheckResult
from sitewatch.checker.service import Checker
from sitewatch.checker.target import spec_problem, target_from_spec, unusable_target
from sitewatch.config.envsubst import EnvError
from sitewatch.config.secrets import Redactor
from sitewatch.errors import SitewatchError
from sitewatch.store import catalog
from sitewatch.store.engine import Engine


class NoSuchWebsiteError(SitewatchError, LookupError):
    pass


async def check_now(
    engine: Engine,
    environ: Mapping[str, str],
    website_id: int,
    checker: Checker | None,
    redact: Redactor | None = None,
) -> tuple[CheckResult, bool]:
    """The result, and whether it was stored (queued to the running writer)."""
    async with engine.connect() as conn:
        spec = await catalog.checkable_spec(conn, website_id)
    if spec is None:
        raise NoSuchWebsiteError(website_id)
    try:
        target = target_from_spec(website_id, spec, environ)
    except (ValidationError, EnvError) as exc:
        reason = f"sitewatch cannot check this website: {spec_problem(exc)}"
        target = unusable_target(website_id, str(spec.get("key", "")), spec, reason)
    if checker is not None:
        result = await checker.prober.check(target)
        checker.writer.add(result)
        return result, True
    async with Prober(redact=redact) as prober:
        return await prober.check(target), False


def result_fields(result: CheckResult) -> dict[str, Any]:
    """What an API answer shows of a check (the web layer types it)."""
    t = result.timings
    return {
        "website_id": result.website_id,
        "checked_at": result.checked_at,
        "ok": result.ok,
        "status_code": result.status_code,
        "error_kind": result.error_kind,
        "error_message": result.error_message,
        "timings_ms": asdict(t) if t else None,
        "size_bytes": result.size_bytes,
        "final_url": result.final_url,
        "cert_expires_at": result.cert_expires_at,
    }
