"""Prometheus metrics: one ``Metrics`` object per application, owning its registry.

Per website the label is its key (bounded by the config; never a URL or error
text). Values come from the checker's results as they are produced, not from the
database, so a database outage does not blank the dashboards that watch it. The
series of a website disappear when it leaves the config (or is paused).
Naming follows Prometheus' guide: ``sitewatch_`` prefix, base units, ``_total``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sitewatch.checker.result import CheckResult
from sitewatch.config.models import ALERT_TYPES, CHECK_TYPES
from sitewatch.store.runs import RunRecord

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
    def __init__(self, *, phases: bool = True) -> None:
        # auto_describe: collectors without describe() are asked by collect(), so
        # every series name is known (duplicates refused; ?name[] finds them all).
        self.registry = CollectorRegistry(auto_describe=True)
        self.phases = PHASES if phases else PHASES[-1:]
        self.readings = Readings()
        r = self.registry
        ProcessCollector(registry=r)
        r.register(_Live(self.readings))
        self.website_up = Gauge(
            "sitewatch_website_up",
            "1 if the website's last check passed, 0 if it failed.",
            ["website"],
            registry=r,
        )
        self.check_duration = Histogram(
            "sitewatch_check_duration_seconds",
            "Duration of checks by phase (dns, connect, tls, first_byte, total).",
            ["website", "phase"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.checks = Counter(
            "sitewatch_checks",
            "Checks by result (success, failure, or internal: sitewatch could not check).",
            ["website", "result"],
            registry=r,
        )
        self.website_info = Gauge(
            "sitewatch_website_info",
            "Always 1; its type label (http, tcp, tls, dns, icmp, heartbeat) joins the "
            "other series by website.",
            ["website", "type"],
            registry=r,
        )
        self.checks_by_type = Counter(
            "sitewatch_checks_by_type",
            "Checks of all websites by check type and result.",
            ["type", "result"],
            registry=r,
        )
        self.ping_loss = Gauge(
            "sitewatch_icmp_packet_loss_ratio",
            "Share of the last ping check's echo requests that got no reply (icmp checks).",
            ["website"],
            registry=r,
        )
        self.last_ping = Gauge(
            "sitewatch_heartbeat_last_ping_timestamp_seconds",
            "When the heartbeat last got a ping of any kind (unix time; heartbeat checks).",
            ["website"],
            registry=r,
        )
        self.cert_expiry = Gauge(
            "sitewatch_tls_certificate_expiry_timestamp_seconds",
            "When the website's TLS certificate expires (unix time).",
            ["website"],
            registry=r,
        )
        self.last_check = Gauge(
            "sitewatch_website_last_check_timestamp_seconds",
            "When the website was last checked (unix time).",
            ["website"],
            registry=r,
        )
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
        for kind in CHECK_TYPES:
            for result in ("success", "failure", "internal"):
                self.checks_by_type.labels(kind, result)
        self._websites: dict[str, str] = {}  # key -> check type
        self._revision: str | None = None

    # -- the checker ------------------------------------------------------------------

    def observe(self, key: str | None, result: CheckResult, kind: str = "http") -> None:
        """One check result of the website ``key``, a check of type ``kind``."""
        if key is None:
            return
        if self._websites.get(key) != kind:
            if key in self._websites:
                _remove(self.website_info, key, self._websites[key])
            self._websites[key] = kind
            self.website_info.labels(key, kind).set(1)
        if result.error_kind == "internal":  # sitewatch's fault: up stays as it was
            self.checks.labels(key, "internal").inc()
            self.checks_by_type.labels(kind, "internal").inc()
            self.last_check.labels(key).set(result.checked_at.timestamp())
            return
        outcome = "success" if result.ok else "failure"
        self.website_up.labels(key).set(1 if result.ok else 0)
        self.checks.labels(key, outcome).inc()
        self.checks_by_type.labels(kind, outcome).inc()
        facts = result.details
        if facts and kind == "icmp" and facts.get("loss") is not None:
            self.ping_loss.labels(key).set(facts["loss"] / 100)
        elif facts and kind == "heartbeat" and facts.get("last_ping"):
            self.last_ping.labels(key).set(datetime.fromisoformat(facts["last_ping"]).timestamp())
        self.last_check.labels(key).set(result.checked_at.timestamp())
        if result.cert_expires_at is not None:
            self.cert_expiry.labels(key).set(result.cert_expires_at.timestamp())
        t = result.timings
        if t is not None:
            for phase, field in self.phases:
                value = getattr(t, field)
                if value is not None:
                    self.check_duration.labels(key, phase).observe(value / 1000)
        self.lag.observe(max(result.lag_seconds, 0.0))

    def keep(self, keys: Iterable[str]) -> None:
        """Only these websites are checked now: the others' series go."""
        wanted = set(keys)
        for key in set(self._websites) - wanted:
            _remove(self.website_info, key, self._websites.pop(key))
            for gauge in (
                self.website_up,
                self.cert_expiry,
                self.last_check,
                self.ping_loss,
                self.last_ping,
            ):
                _remove(gauge, key)
            for result in ("success", "failure", "internal"):
                _remove(self.checks, key, result)
            for phase, _ in PHASES:
                _remove(self.check_duration, key, phase)

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
