"""Process settings: ``SITEWATCH_*`` environment variables, overridden by CLI flags.

This module imports nothing from sitewatch, so every other module may use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///sitewatch.db"
LogLevel = Literal["debug", "info", "warning", "error"]


class Settings(BaseSettings):
    """Everything an operator can set. Flags win over the environment."""

    model_config = SettingsConfigDict(env_prefix="SITEWATCH_", extra="ignore", frozen=True)

    config_dir: Path = Field(
        Path("config"), description="Folder with monitors.yaml and alerts.yaml."
    )
    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="postgresql://user:pass@host/db (psycopg 3) or sqlite:///path.db.",
    )
    host: str = Field("127.0.0.1", description="Address the web server listens on.")
    port: int = Field(8080, ge=0, le=65535, description="Port the web server listens on.")
    log_level: LogLevel = Field("info", description="debug, info, warning or error.")
    log_format: Literal["text", "json"] = Field(
        "text", description="text (for people) or json (one JSON object per line)."
    )
    shutdown_timeout: float = Field(
        8.0,
        gt=0,
        le=300,
        description="Seconds in-flight checks and deliveries get to finish at SIGTERM.",
    )
    metrics_phases: bool = Field(
        False,
        description="Per-website durations of every phase in /metrics (true: 60 series a"
        " website instead of 12 for the total; the fleet's phases are always there).",
    )
    watch: bool = Field(True, description="Apply config changes as soon as files change.")
    auto_migrate: bool = Field(True, description="Upgrade the database schema at start.")
    reload_quiet_ms: int = Field(
        50, ge=1, le=10_000, description="Wait this long without file events before reloading."
    )
    reload_max_wait_ms: int = Field(
        1600, ge=1, le=60_000, description="Reload at the latest this long after the first event."
    )
    resync_interval: float = Field(
        300.0, gt=0, description="Seconds between safety-net reconciles when no file event came."
    )
    check: bool = Field(True, description="Run the checker (false: config and web only).")
    role: Literal["all", "web", "checker"] = Field(
        "all",
        description="all: everything; web: API and dashboard only; checker: checks,"
        " notifications and housekeeping (with /health, /ready, /metrics).",
    )
    lease_seconds: float = Field(
        15.0,
        ge=3,
        le=600,
        description="PostgreSQL clusters: a website whose instance stops renewing its lease"
        " for this long is taken over by another.",
    )
    check_concurrency: int = Field(
        500, ge=1, le=100_000, description="At most this many checks in flight at once."
    )
    max_body_bytes: int = Field(
        1 << 20, ge=1024, description="Read at most this much of a response body."
    )
    dns_cache_seconds: int = Field(
        0,
        ge=0,
        le=86400,
        description="How long HTTP checks keep a name's addresses. 0: every check looks the "
        "name up (through the system's resolver), as a first-time visitor does.",
    )
    history_retention_days: float = Field(
        30, gt=0, description="Keep raw check results this many days."
    )
    rollup_retention_days: float = Field(
        365,
        ge=31,
        description="Keep hourly and daily rollups this many days (at least 31: the"
        " 30-day uptime window slides over the hourly rollup).",
    )
    base_url: str | None = Field(
        None,
        description="Public URL of the dashboard, for links in notifications "
        "(default: http://HOST:PORT).",
    )
    alert_retry_for: float = Field(
        86400, gt=0, description="Seconds to keep retrying a notification before giving up."
    )
    guard_failure_ratio: float = Field(
        0.8,
        gt=0,
        le=1,
        description="When this share of websites is unreachable at once (DNS, refused, "
        "timeout, broken connection: no answer at all), assume sitewatch's own network is "
        "down and hold DOWN notifications.",
    )
    guard_min_websites: int = Field(
        10,
        ge=1,
        description="The failure ratio counts only with at least this many websites; below "
        "it, only the canary URL holds notifications.",
    )
    api_tokens: str = Field(
        "",
        description="Comma-separated bearer tokens that may read and write through the API.",
    )
    api_read_tokens: str = Field(
        "", description="Comma-separated bearer tokens that may only read."
    )
    api_tokens_file: Path | None = Field(
        None,
        description="File of tokens, one per line: a token (read and write) or "
        "'read <token>' (read only); # starts a comment. Read at start.",
    )
    api_open_reads: bool = Field(
        True,
        description="Reads need no token (true), or any configured token (false). "
        "Writes always need a write token once tokens are configured.",
    )
    cors_origins: str = Field(
        "",
        description="Comma-separated origins allowed to call the API from a browser "
        "(empty: CORS off; * for any, without credentials).",
    )
    git_mode: bool = Field(
        False,
        description="Commit every API write to the config folder's git work tree "
        "(one commit per write).",
    )
    git_author: str = Field(
        "sitewatch API <sitewatch@localhost>", description="Author of the API's commits."
    )
    read_only: bool = Field(
        False, description="Refuse API writes (409): the YAML is changed in git only."
    )
    git_url: str | None = Field(
        None,
        description="A git remote to follow (https://, ssh://, git@host:path, git://, "
        "file://): sitewatch fetches it, applies its branch commit by commit, and serves "
        "its config folder instead of SITEWATCH_CONFIG_DIR.",
    )
    git_branch: str = Field("main", min_length=1, description="The branch to follow.")
    git_path: str = Field(".", description="The config folder inside the repository.")
    git_push_branch: str | None = Field(
        None,
        min_length=1,
        description="Push API and dashboard writes to this branch, for review, instead of "
        "the followed branch: they apply once the team merges them.",
    )
    git_poll: float = Field(
        60.0, ge=1, le=86400, description="Seconds between fetches (a push webhook is sooner)."
    )
    git_dir: Path = Field(
        Path(".sitewatch-git"),
        description="Where sitewatch keeps its clone of the remote and the served commit.",
    )
    git_username: str = Field(
        "git", description="User name sent with SITEWATCH_GIT_TOKEN over HTTPS."
    )
    git_token: str | None = Field(
        None, repr=False, description="HTTPS token (or password) for the remote; never shown."
    )
    git_token_file: Path | None = Field(
        None, description="File holding the HTTPS token (a mounted secret)."
    )
    git_ssh_key: Path | None = Field(None, description="SSH private key for an ssh remote.")
    git_known_hosts: Path | None = Field(
        None, description="known_hosts file for an ssh remote (host keys are then checked)."
    )
    git_webhook_secret: str | None = Field(
        None,
        repr=False,
        description="Shared secret of the push webhook POST /hooks/git (GitHub, GitLab, "
        "Gitea, Forgejo); without it the hook is off.",
    )
    max_request_bytes: int = Field(
        1 << 20, ge=1024, description="Largest request body the API accepts."
    )
    max_connections: int = Field(
        1000,
        ge=16,
        le=1_000_000,
        description="Open web connections at most (fewer if the open-file limit needs the room "
        "for checks); the newest beyond it are closed.",
    )
    header_timeout: float = Field(
        10.0,
        gt=0,
        le=600,
        description="Seconds a new connection has to send its first request head (slowloris).",
    )
    allowed_hosts: str = Field(
        "",
        description="Comma-separated host names the server answers to while no API tokens are "
        "set (IP addresses and localhost always work): a guard against DNS rebinding.",
    )
    trusted_proxies: str = Field(
        "",
        description="Comma-separated addresses or networks of reverse proxies whose "
        "X-Forwarded-For/-Proto and Forwarded headers are believed (client address, HTTPS).",
    )
    config_env: str = Field(
        "*",
        description="Comma-separated names or glob patterns (e.g. SW_*,SMTP_PASSWORD) of the "
        "environment variables ${VAR} references may read. SITEWATCH_* never.",
    )
    config_max_file_bytes: int = Field(
        16 << 20, ge=1024, le=1 << 30, description="Largest config file read (bytes)."
    )
    guard_canary_url: str | None = Field(
        None,
        description="Optional URL that is always up (e.g. your gateway); when it fails, "
        "DOWN notifications are held.",
    )
