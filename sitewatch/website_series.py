"""The per-website series, kept compact and written straight as exposition text.

prometheus_client keeps one child object per label set (a histogram's child holds a
lock and a value object per bucket) and builds the text sample by sample: with
the five phases that was about 10 KB of memory per website, and a scrape of 3,000
websites took 1.9-2.8 s of CPU holding the GIL. Here a website is one slotted
record of plain numbers, and a scrape writes its lines from pre-escaped label
text in chunks of ``CHUNK`` websites, so the caller can give the event loop back
between chunks and due checks start on time.

Only the event loop's thread touches these records (results are observed there,
and the scrape renders there), so there are no locks.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate

from prometheus_client import utils as prometheus_utils


def go_string(value: float) -> str:
    """Prometheus' own text of a number (``+Inf``, ``1e+06``): for ``le`` labels."""
    return str(prometheus_utils.floatToGoString(value))  # type: ignore[no-untyped-call]


CHUNK = 100  # websites in one piece of text (the caller slices the scrape by time)


def escape(value: str) -> str:
    """A label value as the exposition formats want it."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def number(value: float) -> str:
    """A sample value: shortest exact text (repr), Prometheus' words for the rest."""
    return repr(float(value)) if math.isfinite(value) else go_string(value)


class Histogram:
    """Bucket counts (not cumulative, integers: cheaper to write than floats) with
    the +Inf overflow last, and the sum."""

    __slots__ = ("counts", "total")

    def __init__(self, size: int) -> None:
        self.counts = array("q", bytes(8 * (size + 1)))
        self.total = 0.0

    def observe(self, bounds: Sequence[float], value: float) -> None:
        self.counts[bisect.bisect_left(bounds, value)] += 1
        self.total += value


class Site:
    """One website's numbers; ``None``: not observed (no series written)."""

    __slots__ = (
        "cert",
        "counts",
        "hist",
        "kind",
        "label",
        "last_check",
        "last_ping",
        "loss",
        "up",
    )

    def __init__(self, key: str, kind: str) -> None:
        self.label = f'website="{escape(key)}"'
        self.kind = kind
        self.up: float | None = None
        self.counts = [0, 0, 0]  # success, failure, internal
        self.last_check: float | None = None
        self.cert: float | None = None
        self.loss: float | None = None
        self.last_ping: float | None = None
        self.hist: dict[str, Histogram] = {}


RESULTS = ("success", "failure", "internal")


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    type: str  # gauge, counter, histogram
    help: str

    def samples(self) -> tuple[str, ...]:
        if self.type == "counter":
            return (f"{self.name}_total",)
        if self.type == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)

    def header(self, openmetrics: bool) -> str:
        shown = self.name if openmetrics or self.type != "counter" else f"{self.name}_total"
        return f"# HELP {shown} {self.help}\n# TYPE {shown} {self.type}\n"


UP = Family(
    "sitewatch_website_up", "gauge", "1 if the website's last check passed, 0 if it failed."
)
DURATION = Family(
    "sitewatch_check_duration_seconds",
    "histogram",
    "Duration of the website's checks: the total, and by phase (dns, connect, tls, "
    "first_byte) when SITEWATCH_METRICS_PHASES is on.",
)
CHECKS = Family(
    "sitewatch_checks",
    "counter",
    "Checks by result (success, failure, or internal: sitewatch could not check).",
)
INFO = Family(
    "sitewatch_website_info",
    "gauge",
    "Always 1; its type label (http, tcp, tls, dns, icmp, heartbeat) joins the other "
    "series by website.",
)
LOSS = Family(
    "sitewatch_icmp_packet_loss_ratio",
    "gauge",
    "Share of the last ping check's echo requests that got no reply (icmp checks).",
)
LAST_PING = Family(
    "sitewatch_heartbeat_last_ping_timestamp_seconds",
    "gauge",
    "When the heartbeat last got a ping of any kind (unix time; heartbeat checks).",
)
CERT = Family(
    "sitewatch_tls_certificate_expiry_timestamp_seconds",
    "gauge",
    "When the website's TLS certificate expires (unix time).",
)
LAST_CHECK = Family(
    "sitewatch_website_last_check_timestamp_seconds",
    "gauge",
    "When the website was last checked (unix time).",
)
PHASE_DURATION = Family(
    "sitewatch_check_phase_duration_seconds",
    "histogram",
    "Duration of every website's checks by check type and phase (dns, connect, tls, "
    "first_byte, total): the whole fleet's timings, a few series in all.",
)
FAMILIES = (UP, DURATION, CHECKS, INFO, LOSS, LAST_PING, CERT, LAST_CHECK, PHASE_DURATION)


class WebsiteSeries:
    """Every website's series, and the fleet-wide phase histogram."""

    def __init__(self, bounds: Sequence[float], *, phases: bool) -> None:
        self.bounds = tuple(bounds)
        self.phases = phases  # per website: every phase (True) or the total only
        self.sites: dict[str, Site] = {}
        self.fleet: dict[tuple[str, str], Histogram] = {}  # (type, phase) -> histogram
        les = [go_string(b) for b in self.bounds] + ["+Inf"]
        self._les = tuple(f'le="{le}"' for le in les)
        self._templates: dict[str, str] = {}

    def site(self, key: str, kind: str) -> Site:
        site = self.sites.get(key)
        if site is None:
            site = self.sites[key] = Site(key, kind)
        else:
            site.kind = kind
        return site

    def timing(self, site: Site, phase: str, seconds: float) -> None:
        """One phase's duration of one check of ``site``."""
        fleet = self.fleet.get((site.kind, phase))
        if fleet is None:
            fleet = self.fleet[site.kind, phase] = Histogram(len(self.bounds))
        fleet.observe(self.bounds, seconds)
        if self.phases or phase == "total":
            hist = site.hist.get(phase)
            if hist is None:
                hist = site.hist[phase] = Histogram(len(self.bounds))
            hist.observe(self.bounds, seconds)

    def keep(self, keys: Iterable[str]) -> None:
        wanted = set(keys)
        for key in [k for k in self.sites if k not in wanted]:
            del self.sites[key]

    def series_count(self) -> int:
        """How many series a scrape writes (the cardinality, for docs and benches)."""
        per_hist = len(self._les) + 2
        n = len(self.fleet) * per_hist
        for site in self.sites.values():
            n += 2 + sum(1 for c in site.counts if c)  # info, last_check, counts
            n += sum(v is not None for v in (site.up, site.cert, site.loss, site.last_ping))
            n += len(site.hist) * per_hist
        return n

    # -- the text ---------------------------------------------------------------

    def text(self, *, openmetrics: bool, names: frozenset[str] | None = None) -> Iterator[str]:
        """The exposition text of every family (those with a sample in ``names``,
        when given), in chunks of at most ``CHUNK`` websites."""
        sites = list(self.sites.values())
        for family in FAMILIES:
            wanted = (
                family.samples()
                if names is None
                else tuple(s for s in family.samples() if s in names)
            )
            if not wanted:
                continue
            yield family.header(openmetrics)
            if family is PHASE_DURATION:
                out: list[str] = []
                for (kind, phase), hist in sorted(self.fleet.items()):
                    labels = f'type="{kind}",phase="{phase}"'
                    self._histogram(out, family.name, labels, hist, wanted)
                yield "".join(out)
                continue
            for start in range(0, len(sites), CHUNK):
                yield self._chunk(family, sites[start : start + CHUNK], wanted)

    def _chunk(self, family: Family, sites: list[Site], wanted: tuple[str, ...]) -> str:
        out: list[str] = []
        add = out.append
        name = family.name
        if family is UP:
            for s in sites:
                if s.up is not None:
                    add(f"{name}{{{s.label}}} {number(s.up)}\n")
        elif family is INFO:
            for s in sites:
                add(f'{name}{{{s.label},type="{s.kind}"}} 1.0\n')
        elif family is CHECKS:
            for s in sites:
                for result, count in zip(RESULTS, s.counts, strict=True):
                    if count:
                        add(f'{name}_total{{{s.label},result="{result}"}} {count}.0\n')
        elif family is DURATION:
            if wanted == family.samples():
                whole = self._template(name).format
                for s in sites:
                    for phase, hist in s.hist.items():
                        labels = f'{s.label},phase="{phase}"'
                        add(whole(labels, *accumulate(hist.counts), number(hist.total)))
            else:
                for s in sites:
                    for phase, hist in s.hist.items():
                        self._histogram(out, name, f'{s.label},phase="{phase}"', hist, wanted)
        else:
            attr = {LOSS: "loss", LAST_PING: "last_ping", CERT: "cert", LAST_CHECK: "last_check"}
            field = attr[family]
            for s in sites:
                value = getattr(s, field)
                if value is not None:
                    add(f"{name}{{{s.label}}} {number(value)}\n")
        return "".join(out)

    def _template(self, name: str) -> str:
        """One histogram's whole text as a ``str.format`` template: the labels are
        ``{0}``, the cumulative counts ``{1}``..``{n}`` (integers, written as the
        floats the format has), the sum ``{n+1}``. One call in C per histogram
        instead of a Python statement per line: the per-website histograms are
        most of a scrape's series."""
        template = self._templates.get(name)
        if template is None:
            n = len(self._les)
            lines = [
                f"{name}_bucket{{{{{{0}},{le}}}}} {{{i}}}.0\n" for i, le in enumerate(self._les, 1)
            ]
            lines.append(f"{name}_count{{{{{{0}}}}}} {{{n}}}.0\n")
            lines.append(f"{name}_sum{{{{{{0}}}}}} {{{n + 1}}}\n")
            template = self._templates[name] = "".join(lines)
        return template

    def _histogram(
        self, out: list[str], name: str, labels: str, hist: Histogram, wanted: tuple[str, ...]
    ) -> None:
        add = out.append
        cumulative = 0.0
        if f"{name}_bucket" in wanted:
            for le, count in zip(self._les, hist.counts, strict=True):
                cumulative += count
                add(f"{name}_bucket{{{labels},{le}}} {cumulative}\n")
        else:
            cumulative = float(sum(hist.counts))
        if f"{name}_count" in wanted:
            add(f"{name}_count{{{labels}}} {cumulative}\n")
        if f"{name}_sum" in wanted:
            add(f"{name}_sum{{{labels}}} {number(hist.total)}\n")
