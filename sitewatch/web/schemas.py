"""The API's response bodies as typed models: the one source of the contract.

Handlers build these and ``body()`` serialises them; ``openapi.py`` publishes
their JSON Schemas (``models_json_schema``) in the document, so what the API
answers and what the document says cannot drift. A test validates real answers
against the document (schemathesis, ``tests/web/test_contract.py``).

Times are ``Time``: aware datetimes in UTC (anything else is refused when the
body is built: a bug, never a silent conversion), which pydantic-core writes
in C exactly as ``sitewatch.times.iso_z`` writes them elsewhere (UTC, ``Z``; a
test holds the two together). A Python serializer cost 9 ms per 1,000 listed
websites.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler
from pydantic_core import core_schema


class _InUTC:
    """A datetime whose offset must be 0 (pydantic-core's own check)."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.datetime_schema(tz_constraint=0)


Time = Annotated[datetime, _InUTC()]
State = Literal["up", "down", "unknown"]
CheckType = Literal["http", "tcp", "tls", "dns", "icmp", "heartbeat"]


class Body(BaseModel):
    """A response body: built by a handler, never parsed from input."""

    # Every field is in every answer (null when empty): the schema says "required".
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        json_schema_serialization_defaults_required=True,
    )


def body(model: BaseModel) -> bytes:
    """The JSON of a response body."""
    return model.model_dump_json(by_alias=True).encode()


# -- errors ---------------------------------------------------------------------------


class FieldProblem(Body):
    field: str | None = Field(description="The entry's field, dotted; null: the whole entry.")
    message: str
    location: str = Field(description="file:line:column in the YAML.")


class Problem(Body):
    """RFC 9457 problem details: every /api error. ``errors`` only when there are
    problems with fields to list."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=False)

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = None


# -- websites -------------------------------------------------------------------------


class WebsiteStatus(Body):
    state: State
    state_since: Time | None
    streak: int
    last_checked_at: Time | None
    last_status_code: int | None
    last_response_ms: float | None
    last_error_kind: str | None
    last_error_message: str | None
    cert_expires_at: Time | None
    last_details: dict[str, Any] | None = Field(
        description="What the last check's type found: a TLS certificate (subject, issuer, "
        "names, expiry), a DNS answer, ping round trips and loss, a heartbeat's last pings."
    )


class WebsiteSummary(Body):
    id: int
    key: str
    name: str
    type: CheckType
    url: str = Field(
        description="As stored: ${VAR} references kept (tcp://host:port, dns://name/TYPE... "
        "for the other types)."
    )
    active: bool
    tags: list[str]
    interval_seconds: float
    status: WebsiteStatus
    created_at: Time | None
    last_checked: Time | None = Field(description="status.last_checked_at (the seed API's name)")
    last_status: State | None = Field(
        description="status.state, null before the first check (the seed API's name)"
    )


class WebsitePage(Body):
    items: list[WebsiteSummary]
    total: int
    limit: int
    offset: int


class WebsiteDetail(WebsiteSummary):
    entry: dict[str, Any] | None = Field(
        description="The entry as written in the YAML (secrets masked); null if not found there."
    )
    spec: dict[str, Any] = Field(description="The effective spec (defaults applied, masked).")
    source_file: str | None
    updated_at: Time
    ping_url: str | None = Field(
        None,
        description="A heartbeat's ping URL (add /start, /fail or /<exit status>); only for "
        "requests with a token (or when no tokens are set).",
    )


class WebsiteWritten(WebsiteDetail):
    """What a create, replace or change answers: the entry as applied."""

    revision: str | None = Field(description="The config revision the reconciler applied.")
    commit: str | None = Field(description="The git commit of the write, when committing.")


class OpenIncident(Body):
    id: int
    alert_id: int
    started_at: Time
    cause_kind: str | None
    cause_message: str | None


class UptimeWindow(Body):
    ratio: float | None
    checks: int
    failures: int
    mean_response_ms: float | None


class WebsiteStatusDetail(WebsiteStatus):
    """The website's state, its open incidents and uptime over 24 h, 7 d and 30 d
    (null: no checks in the window)."""

    id: int
    key: str
    open_incidents: list[OpenIncident]
    uptime: dict[Literal["24h", "7d", "30d"], UptimeWindow | None]


class CheckItem(Body):
    """One check as stored."""

    id: int
    website_id: int
    checked_at: Time
    ok: bool
    status_code: int | None
    response_time_ms: float | None
    error_kind: str | None
    error_message: str | None
    dns_ms: float | None
    connect_ms: float | None
    tls_ms: float | None
    first_byte_ms: float | None
    size_bytes: int | None
    final_url: str | None
    cert_expires_at: Time | None
    details: dict[str, Any] | None = Field(
        description="What the check's type found (see WebsiteStatus.last_details)."
    )


class Ping(Body):
    """A heartbeat's ping, as received."""

    at: Time
    kind: Literal["success", "start", "fail"]
    exit_status: int | None
    duration_ms: float | None = Field(description="A run's length, start ping to end.")
    body: str | None = Field(description="The first 10 KiB of the request body.")
    source: str | None = Field(description="The client's address.")
    user_agent: str | None


class PingList(Body):
    ping_url: str
    items: list[Ping]


class BucketItem(Body):
    """An hour or a day of checks from the rollups."""

    start: Time
    checks: int
    failures: int
    mean_ms: float | None
    max_ms: float | None
    p95_ms: float | None = Field(description="null until the bucket is over and sealed")


class RawHistory(Body):
    granularity: Literal["raw"]
    items: list[CheckItem]


class BucketHistory(Body):
    granularity: Literal["hour", "day"]
    items: list[BucketItem]


class Timings(Body):
    dns_ms: float | None
    connect_ms: float | None
    tls_ms: float | None
    first_byte_ms: float | None
    total_ms: float | None


class CheckNow(Body):
    """A check run on demand."""

    website_id: int
    checked_at: Time
    ok: bool
    status_code: int | None
    error_kind: str | None
    error_message: str | None
    timings_ms: Timings | None
    size_bytes: int | None
    final_url: str | None
    cert_expires_at: Time | None
    stored: bool = Field(description="Queued to the result writer (the checker runs here).")


# -- alerts ---------------------------------------------------------------------------


class Alert(Body):
    id: int
    key: str
    type: Literal["email", "webhook", "apprise", "pagerduty", "opsgenie"]
    enabled: bool
    spec: dict[str, Any] = Field(description="As stored (secrets masked).")
    updated_at: Time


class AlertPage(Body):
    items: list[Alert]
    total: int


class AlertDetail(Alert):
    entry: dict[str, Any] | None = Field(
        description="The entry as written in the YAML (secrets masked); null if not found there."
    )
    websites: list[str] = Field(description="Keys of the websites it covers.")
    source_file: str | None


class AlertWritten(AlertDetail):
    revision: str | None
    commit: str | None


class Attempt(Body):
    at: Time
    ok: bool
    duration_ms: float
    detail: str


class Delivery(Body):
    event_id: str
    kind: str
    website_id: int | None
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    created_at: Time
    next_attempt_at: Time | None = Field(description="While pending.")
    delivered_at: Time | None
    last_error: str | None
    attempt_log: list[Attempt]


class DeliveryPage(Body):
    items: list[Delivery]


class TestQueued(Body):
    event_id: str
    status: Literal["queued"]


class MessagePreview(Body):
    """What an alert sends for an event, rendered on a sample event."""

    alert: str
    event: Literal["down", "reminder", "up", "test"]
    parts: dict[str, str]
    problems: list[str]


# -- stats, config, cluster ------------------------------------------------------------


class Summary(Body):
    websites: int
    active: int
    paused: int
    up: int
    down: int
    unknown: int
    checks_24h: int
    failures_24h: int
    uptime_24h: float | None
    mean_response_ms_24h: float | None


class ReconcileRun(Body):
    status: Literal["applied", "unchanged", "failed", "refused"]
    trigger: str
    revision: str | None
    git_commit: str | None
    started_at: Time
    finished_at: Time
    duration_seconds: float
    created: int
    updated: int
    deleted: int
    restored: int
    unchanged: int
    errors: list[str]
    warnings: list[str]


class GitRemoteStatus(Body):
    """A followed git remote (SITEWATCH_GIT_URL): what was fetched, applied, refused."""

    remote: str = Field(description="The remote's URL, without credentials.")
    branch: str
    path: str = Field(description="The config folder inside the repository.")
    fetched_commit: str | None = Field(description="The branch's commit at the last fetch.")
    fetched_at: str | None = Field(description="The last successful fetch (ISO 8601).")
    fetch_error: str | None = Field(description="Why the last fetch failed, if it did.")
    fetch_error_at: str | None
    applied_commit: str | None = Field(description="The commit whose config is applied.")
    applied_at: str | None
    attempted_commit: str | None = Field(description="The last commit tried.")
    attempted_at: str | None
    attempted_errors: list[str] = Field(
        description="Why the attempted commit was refused (file:line:col: ...); empty when "
        "it is applied."
    )
    push_branch: str | None = Field(
        description="Where API and dashboard writes are pushed: the followed branch, or a "
        "branch for review (SITEWATCH_GIT_PUSH_BRANCH); null when writes are off."
    )
    leads: bool = Field(
        description="Whether this instance fetches on the poll (the oldest instance of a "
        "cluster); the others follow the commit the database holds."
    )


class ConfigStatus(Body):
    config_dir: str
    applied_revision: str | None
    applied_git_commit: str | None
    attempted_revision: str | None
    last_reconcile: ReconcileRun | None
    read_only: bool
    read_only_reason: str | None
    git: GitRemoteStatus | None = Field(
        None, description="The followed git remote, when there is one."
    )


class Instance(Body):
    id: str
    role: str
    version: str
    host: str
    started_at: Time
    heartbeat_at: Time
    websites: int
    checks_total: int
    self_: bool = Field(alias="self", description="This instance (the one answering).")


class Cluster(Body):
    database: str
    shared: bool
    lease_seconds: float
    instances: list[Instance]


# -- status pages and incident notes -------------------------------------------------


class StatusPageSummary(Body):
    key: str
    slug: str
    title: str
    description: str
    domain: str | None
    listed: bool
    url: str = Field(description="Where the page is served: /status/{slug}.")


class StatusPageList(Body):
    items: list[StatusPageSummary]


class StatusPageDetail(StatusPageSummary):
    entry: dict[str, Any] | None = Field(
        description="The entry as written in the YAML; null if not found there."
    )
    spec: dict[str, Any] = Field(description="The page as applied (defaults filled in).")
    source_file: str | None


class StatusPageWritten(StatusPageDetail):
    revision: str | None = Field(description="The config revision the reconciler applied.")
    commit: str | None = Field(description="The git commit of the write, when committing.")


NoteStatus = Literal["investigating", "identified", "monitoring", "resolved"]


class IncidentNoteSummary(Body):
    key: str = Field(description="The file's name in incidents/, without .md.")
    title: str
    status: NoteStatus
    impact: Literal["minor", "major", "critical"]
    started: Time
    resolved: Time | None
    open: bool


class IncidentNoteList(Body):
    items: list[IncidentNoteSummary]


class IncidentNoteDetail(IncidentNoteSummary):
    note: dict[str, Any] = Field(
        description="Every field as applied: websites, groups, pages, updates, body."
    )
    file: str | None = Field(description="Where it is written, relative to the config folder.")
    text: str | None = Field(description="The file as written (front matter and Markdown).")


class IncidentNoteWritten(IncidentNoteDetail):
    revision: str | None
    commit: str | None


class Proposal(Body):
    """A write while following a git remote with a review branch
    (SITEWATCH_GIT_PUSH_BRANCH): pushed there as a commit, applied once merged."""

    status: Literal["proposed"]
    branch: str = Field(description="The review branch the commit was pushed to.")
    commit: str | None = Field(description="The commit of the write.")
    detail: str


RESPONSES: tuple[type[Body], ...] = (
    Problem,
    Proposal,
    WebsitePage,
    WebsiteDetail,
    WebsiteWritten,
    WebsiteStatusDetail,
    RawHistory,
    BucketHistory,
    PingList,
    CheckNow,
    AlertPage,
    AlertDetail,
    AlertWritten,
    DeliveryPage,
    TestQueued,
    MessagePreview,
    Summary,
    ConfigStatus,
    Cluster,
    StatusPageList,
    StatusPageDetail,
    StatusPageWritten,
    IncidentNoteList,
    IncidentNoteDetail,
    IncidentNoteWritten,
)
