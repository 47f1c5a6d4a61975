"""The Metrics object alone: series per website come and go; the config's
revision is one series; phases can be turned off."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from sitewatch.checker.result import CheckResult, Timings
from sitewatch.metrics import Metrics
from sitewatch.store.runs import RunRecord

T = datetime(2026, 11, 28, 10, tzinfo=UTC)


def _text(m: Metrics, *, openmetrics: bool = False) -> str:
    return "".join(m.exposition(openmetrics=openmetrics))


def _result(ok: bool = True) -> CheckResult:
    return CheckResult(
        website_id=1,
        checked_at=T,
        ok=ok,
        timings=Timings(dns_ms=1.0, connect_ms=2.0, tls_ms=None, first_byte_ms=4.0, total_ms=9.0),
        cert_expires_at=T,
        lag_seconds=0.003,
    )


def test_series_of_a_website_that_left_disappear() -> None:
    m = Metrics(phases=True)
    m.observe("shop", _result())
    m.observe("blog", _result(ok=False))
    m.observe(None, _result())  # a result of a website no longer known: ignored
    text = _text(m)
    assert 'sitewatch_website_up{website="blog"} 0.0' in text
    assert 'phase="tls"' not in text  # no TLS on http://: not observed
    assert 'sitewatch_check_duration_seconds_sum{website="shop",phase="total"} 0.009' in text
    assert 'sitewatch_tls_certificate_expiry_timestamp_seconds{website="shop"} 1795860000.0' in text
    m.keep(["shop"])
    text = _text(m)
    assert 'website="blog"' not in text and 'website="shop"' in text
    m.keep([])
    assert 'website="' not in _text(m)


def test_the_config_revision_is_one_series() -> None:
    m = Metrics()
    run = RunRecord("applied", "startup", T, T, revision="a" * 64)
    m.reconciled(run)
    m.reconciled(RunRecord("applied", "watch", T, T, revision="b" * 64))
    m.reconciled(RunRecord("rejected", "watch", T, T, revision="c" * 64, errors=("x",)))
    text = _text(m)
    assert text.count("sitewatch_config_info{") == 1 and f'revision="{"b" * 64}"' in text
    assert "sitewatch_config_last_reload_successful 0.0" in text


def test_phases_off_keeps_the_total_only_per_website_and_every_phase_for_the_fleet() -> None:
    m = Metrics()
    m.observe("shop", _result())
    m.observe("blog", _result())
    text = _text(m)
    assert 'website="shop",phase="total"' in text and 'website="shop",phase="dns"' not in text
    fleet = "sitewatch_check_phase_duration_seconds"
    assert f'{fleet}_count{{type="http",phase="dns"}} 2.0' in text
    assert f'{fleet}_bucket{{type="http",phase="connect",le="0.01"}} 2.0' in text
    assert 'phase="tls"' not in text  # no TLS on http://: not observed
    # 2 x (up, info, last check, success count, certificate) + 2 x 12 of the total's
    # histogram + 4 fleet histograms (dns, connect, first_byte, total) of 12 each
    assert m.websites.series_count() == 2 * 5 + 2 * 12 + 4 * 12


def test_the_check_type_is_a_bounded_label() -> None:
    m = Metrics()
    ping = _result()
    ping.details = {"loss": 25.0, "sent": 4, "received": 3}
    beat = _result(ok=False)
    beat.details = {"last_ping": "2026-11-28T09:00:00+00:00"}
    m.observe("gw", ping, "icmp")
    m.observe("backup", beat, "heartbeat")
    m.observe("shop", _result())
    text = _text(m)
    assert 'sitewatch_website_info{website="gw",type="icmp"} 1.0' in text
    assert 'sitewatch_website_info{website="shop",type="http"} 1.0' in text
    assert 'sitewatch_checks_by_type_total{result="success",type="icmp"} 1.0' in text
    assert 'sitewatch_checks_by_type_total{result="failure",type="heartbeat"} 1.0' in text
    assert 'sitewatch_checks_by_type_total{result="internal",type="dns"} 0.0' in text
    assert 'sitewatch_icmp_packet_loss_ratio{website="gw"} 0.25' in text
    assert 'sitewatch_heartbeat_last_ping_timestamp_seconds{website="backup"} 1795856400.0' in text
    m.observe("gw", ping, "tcp")  # its type changed: one info series, the new one
    text = _text(m)
    assert 'website="gw",type="icmp"' not in text
    assert 'sitewatch_website_info{website="gw",type="tcp"} 1.0' in text
    m.keep(["shop"])
    text = _text(m)
    assert 'website="gw"' not in text and 'website="backup"' not in text
    assert text.count("sitewatch_checks_by_type_total{") == 18  # 6 types x 3 results


def test_the_text_parses_in_both_formats_and_names_pick_series() -> None:
    m = Metrics(phases=True)
    m.observe('odd "key"\\ \n', _result())
    m.observe("shop", _result(ok=False))
    families = {f.name: f for f in text_string_to_metric_families(_text(m))}
    assert families["sitewatch_checks"].type == "counter"
    assert families["sitewatch_check_duration_seconds"].type == "histogram"
    keys = {s.labels["website"] for s in families["sitewatch_website_up"].samples}
    assert keys == {'odd "key"\\ \n', "shop"}
    om = {f.name: f for f in openmetrics_families(_text(m, openmetrics=True))}
    assert om["sitewatch_checks"].type == "counter"  # a strict parser: it refuses a bad text
    assert len(om["sitewatch_check_duration_seconds"].samples) == 2 * 4 * 12
    picked = "".join(m.exposition(openmetrics=False, names=["sitewatch_website_up"]))
    assert "sitewatch_website_up{" in picked and "sitewatch_checks" not in picked
    assert "process_" not in picked
