"""``POST /hooks/git``: a push webhook from GitHub, GitLab, Gitea or Forgejo
makes a followed remote be fetched at once (``Follower.wake``), instead of at the
next poll.

It is its own credential, like a ping URL: the request must be signed with
``SITEWATCH_GIT_WEBHOOK_SECRET`` the way each forge signs (GitHub's
``X-Hub-Signature-256`` and Gitea's or Forgejo's ``X-Gitea-Signature`` /
``X-Forgejo-Signature``, HMAC-SHA256 of the body; GitLab's ``X-Gitlab-Token``,
the secret itself). A push to another branch is acknowledged and ignored. The
body is never trusted beyond that: the fetch reads the remote, not the payload.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping

from aiohttp import web

from sitewatch.keys import FOLLOWER, SETTINGS

log = logging.getLogger("sitewatch.git")


def signed(headers: Mapping[str, str], body: bytes, secret: str) -> str | None:
    """Which forge's signature on ``body`` matches ``secret``, or None."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    github = headers.get("X-Hub-Signature-256")
    if github is not None and hmac.compare_digest(github.strip(), f"sha256={digest}"):
        return "github"
    for forge, header in (("forgejo", "X-Forgejo-Signature"), ("gitea", "X-Gitea-Signature")):
        value = headers.get(header)
        if value is not None and hmac.compare_digest(value.strip().lower(), digest):
            return forge
    token = headers.get("X-Gitlab-Token")
    if token is not None and hmac.compare_digest(token.encode(), secret.encode()):
        return "gitlab"
    return None


def _reply(code: int, state: str, reason: str | None = None) -> web.Response:
    body = {"status": state} if reason is None else {"status": state, "reason": reason}
    return web.json_response(body, status=code)


async def git_hook(request: web.Request) -> web.Response:
    follower = request.app.get(FOLLOWER)
    secret = request.app[SETTINGS].git_webhook_secret
    if follower is None:
        return _reply(404, "off", "this instance follows no git remote")
    if not secret:
        return _reply(404, "off", "the push webhook is off: set SITEWATCH_GIT_WEBHOOK_SECRET")
    body = await request.read()
    forge = signed(request.headers, body, secret)
    if forge is None:
        log.warning("a git webhook with a wrong or missing signature from %s", request.remote)
        return _reply(401, "refused", "the signature does not match the secret")
    event = next(
        (
            request.headers[h]
            for h in ("X-GitHub-Event", "X-Gitlab-Event", "X-Gitea-Event", "X-Forgejo-Event")
            if h in request.headers
        ),
        "push",
    )
    if event == "ping":  # GitHub's hello when the hook is created
        return _reply(200, "pong")
    try:
        ref = json.loads(body).get("ref")
    except (ValueError, AttributeError):
        ref = None
    branch = follower.status.branch
    if ref != f"refs/heads/{branch}":
        return _reply(202, "ignored", f"not a push to {branch} (ref {str(ref)[:100]!r})")
    log.info("%s push to %s: fetching %s", forge, branch, follower.status.remote)
    follower.wake()
    return _reply(202, "fetching")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/hooks/git", git_hook)
