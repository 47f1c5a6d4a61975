"""Prometheus metrics: one ``Metrics`` object per application, owning its registry.

Per website the label is its key (bounded by the config; never a URL or error
text). Values come from the checker's results as they are produced, not from the
database, so a database outage does not blank the dashboards that watch it. The
series of a website disappear when it leaves the config (or is paused).
Naming follows Prometheus' guide: ``sitewatch_`` prefix, base units, ``_total``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.registry import Collector

from sitewatch.checker.result import CheckResult
from sitewatch.config.models import ALERT_TYPES, CHECK_TYPES
from sitewatch.store.runs import RunRecord
from sitewatch.website_series import WebsiteSeries

# Seconds: from a fast local answer to a slow one near the default 10 s timeout.
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
PHASES = (
    ("dns", "dns_ms"),
    ("connect", "connect_ms"),
    ("tls", "tls_ms"),
    ("first_byte", "first_byte_ms"),
    ("total", "total_ms"),
)


@dataclass
class Readings:
    """Numbers read at scrape time from the running parts (set by the app)."""

    in_flight: Callable[[], float] = lambda: 0.0
    behind: Callable[[], float] = lambda: 0.0  # seconds the oldest due check waits
    db_errors: Callable[[], float] = lambda: 0.0
    dropped: Callable[[], float] = lambda: 0.0
    websites: Callable[[], float] = lambda: 0.0
    # 1 while the connectivity guard holds DOWN notifications, else 0
    guard_holding: Callable[[], float] = lambda: 0.0
    held: Callable[[], float] = lambda: 0.0  # DOWNs confirmed while held, since start
    # (task name, running) of every supervised task
    tasks: Callable[[], Iterable[tuple[str, bool]]] = lambda: ()
    # A followed git remote's numbers (fetches_success, fetches_failure,
    # last_fetch_timestamp, refused, behind); None when no remote is followed.
    git: Callable[[], Mapping[str, float] | None] = lambda: None


class _Live(Collector):
    def __init__(self, readings: Readings) -> None:
        self.readings = readings

    def collect(self) -> Iterable[Metric]:
        r = self.readings
        yield GaugeMetricFamily(
            "sitewatch_checks_in_flight", "Checks running right now.", value=r.in_flight()
        )
        yield GaugeMetricFamily(
            "sitewatch_scheduler_behind_seconds",
            "How long the oldest due check has been waiting to start (0: on time; "
            "growing: this instance checks more than it can).",
            value=r.behind(),
        )
        yield GaugeMetricFamily(
            "sitewatch_websites_checked",
            "Websites this instance checks (its share, when instances share a database).",
            value=r.websites(),
        )
        yield CounterMetricFamily(
            "sitewatch_db_errors",
            "Database operations that failed (result batches, status queries); retried.",
            value=r.db_errors(),
        )
        yield CounterMetricFamily(
            "sitewatch_check_results_dropped",
            "Check results dropped because the database was away too long (buffer full).",
            value=r.dropped(),
        )
        yield GaugeMetricFamily(
            "sitewatch_alert_guard_holding",
            "1 while the connectivity guard holds DOWN notifications (sitewatch's own "
            "network looks down), else 0.",
            value=r.guard_holding(),
        )
        yield CounterMetricFamily(
            "sitewatch_alert_notifications_held",
            "DOWN notifications held when their outage was confirmed (connectivity guard "
            "or maintenance window); each goes out at the next check after the hold.",
            value=r.held(),
        )
        up = GaugeMetricFamily(
            "sitewatch_task_up",
            "1 while the supervised task runs, 0 while it is down after a failure.",
            labels=["task"],
        )
        for name, running in r.tasks():
            up.add_metric([name], 1 if running else 0)
        yield up
        git = r.git()
        if git is not None:
            yield from _git_metrics(git)


def _git_metrics(git: Mapping[str, float]) -> Iterable[Metric]:
    fetches = CounterMetricFamily(
        "sitewatch_git_fetches", "Fetches of the followed git remote, by result.", labels=["result"]
    )
    fetches.add_metric(["success"], git["fetches_success"])
    fetches.add_metric(["failure"], git["fetches_failure"])
    yield fetches
    yield GaugeMetricFamily(
        "sitewatch_git_last_fetch_success_timestamp_seconds",
        "When the followed git remote was last fetched (unix time; 0: never).",
        value=git["last_fetch_timestamp"],
    )
    yield GaugeMetricFamily(
        "sitewatch_git_commit_refused",
        "1 while the newest commit tried does not validate (the last good one stays "
        "applied), else 0.",
        value=git["refused"],
    )
    yield GaugeMetricFamily(
        "sitewatch_git_behind",
        "1 while the branch's fetched commit is not the applied one, else 0.",
        value=git["behind"],
    )
    yield GaugeMetricFamily(
        "sitewatch_git_leader",
        "1 on the instance that fetches the followed git remote on the poll (the "
        "others follow the commit the database holds), else 0.",
        value=git["leader"],
    )


class Metrics:
    def __init__(self, *, phases: bool = False) -> None:
        # auto_describe: collectors without describe() are asked by collect(), so
        # every series name is known (duplicates refused; ?name[] finds them all).
        self.registry = CollectorRegistry(auto_describe=True)
        self.readings = Readings()
        r = self.registry
        ProcessCollector(registry=r)
        r.register(_Live(self.readings))
        self.checks_by_type = Counter(
            "sitewatch_checks_by_type",
            "Checks of all websites by check type and result.",
            ["type", "result"],
            registry=r,
        )
        # Per website: compact records written straight as text (see website_series).
        self.websites = WebsiteSeries(DURATION_BUCKETS, phases=phases)
        self.reload_ok = Gauge(
            "sitewatch_config_last_reload_successful",
            "1 if the last reconcile of the config applied, 0 if it was rejected.",
            registry=r,
        )
        self.reload_time = Gauge(
            "sitewatch_config_last_reload_timestamp_seconds",
            "When the config was last reconciled (unix time), whatever the outcome.",
            registry=r,
        )
        self.config_info = Gauge(
            "sitewatch_config_info",
            "The applied config revision (always 1).",
            ["revision"],
            registry=r,
        )
        self.lag = Histogram(
            "sitewatch_scheduler_lag_seconds",
            "How late checks start after they are due.",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.task_failures = Counter(
            "sitewatch_task_failures",
            "Failures of supervised long-lived tasks (each is restarted with backoff).",
            ["task"],
            registry=r,
        )
        self.notifications = Counter(
            "sitewatch_alert_notifications",
            "Notification delivery attempts by channel and result.",
            ["channel", "result"],
            registry=r,
        )
        self.outbox_pending = Gauge(
            "sitewatch_alert_outbox_pending",
            "Notifications waiting to be delivered (read at scrape time).",
            registry=r,
        )
        for channel in ALERT_TYPES:  # from zero, so rate() works at once
            for result in ("success", "failure"):
                self.notifications.labels(channel, result)
        # Children looked up once: labels() takes a lock and hashes on every call.
        self._by_type = {
            (kind, result): self.checks_by_type.labels(kind, result)
            for kind in CHECK_TYPES
            for result in ("success", "failure", "internal")
        }
        self._revision: str | None = None

    # -- the checker ------------------------------------------------------------------

    def observe(self, key: str | None, result: CheckResult, kind: str = "http") -> None:
        """One check result of the website ``key``, a check of type ``kind``."""
        if key is None:
            return
        site = self.websites.site(key, kind)
        site.last_check = result.checked_at.timestamp()
        if result.error_kind == "internal":  # sitewatch's fault: up stays as it was
            site.counts[2] += 1
            self._by_type[kind, "internal"].inc()
            return
        site.up = 1.0 if result.ok else 0.0
        site.counts[0 if result.ok else 1] += 1
        self._by_type[kind, "success" if result.ok else "failure"].inc()
        facts = result.details
        if facts and kind == "icmp" and facts.get("loss") is not None:
            site.loss = facts["loss"] / 100
        elif facts and kind == "heartbeat" and facts.get("last_ping"):
            site.last_ping = datetime.fromisoformat(facts["last_ping"]).timestamp()
        if result.cert_expires_at is not None:
            site.cert = result.cert_expires_at.timestamp()
        t = result.timings
        if t is not None:
            for phase, field in PHASES:
                value = getattr(t, field)
                if value is not None:
                    self.websites.timing(site, phase, value / 1000)
        self.lag.observe(max(result.lag_seconds, 0.0))

    def keep(self, keys: Iterable[str]) -> None:
        """Only these websites are checked now: the others' series go."""
        self.websites.keep(keys)

    def exposition(self, *, openmetrics: bool, names: Sequence[str] = ()) -> Iterator[str]:
        """The text of every series (or of those named), in chunks: the caller may
        give the event loop back between two."""
        registry = self.registry.restricted_registry(names) if names else self.registry
        encode = openmetrics_latest if openmetrics else generate_latest
        head = encode(registry).decode()
        yield head.removesuffix("# EOF\n") if openmetrics else head
        yield from self.websites.text(openmetrics=openmetrics, names=frozenset(names) or None)
        if openmetrics:
            yield "# EOF\n"

    # -- the reconciler and the alerts ---------------------------------------------

    def reconciled(self, run: RunRecord) -> None:
        self.reload_ok.set(1 if run.ok else 0)
        self.reload_time.set(run.finished_at.timestamp())
        if run.ok and run.revision and run.revision != self._revision:
            if self._revision is not None:
                _remove(self.config_info, self._revision)
            self._revision = run.revision
            self.config_info.labels(run.revision).set(1)

    def task_failed(self, task: str) -> None:
        self.task_failures.labels(task).inc()

    def delivered(self, channel: str, ok: bool) -> None:
        self.notifications.labels(channel, "success" if ok else "failure").inc()


def _remove(metric: Gauge | Counter | Histogram, *labels: str) -> None:
    with contextlib.suppress(KeyError):  # older clients raise for unknown labels
        metric.remove(*labels)
