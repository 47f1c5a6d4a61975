"""The Metrics object alone: series per website come and go; the config's
revision is one series; phases can be turned off."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import generate_latest

from sitewatch.checker.result import CheckResult, Timings
from sitewatch.metrics import Metrics
from sitewatch.store.runs import RunRecord

T = datetime(2026, 11, 28, 10, tzinfo=UTC)


def _text(m: Metrics) -> str:
    return generate_latest(m.registry).decode()


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
    m = Metrics()
    m.observe("shop", _result())
    m.observe("blog", _result(ok=False))
    m.observe(None, _result())  # a result of a website no longer known: ignored
    text = _text(m)
    assert 'sitewatch_website_up{website="blog"} 0.0' in text
    assert 'phase="tls"' not in text  # no TLS on http://: not observed
    assert 'sitewatch_check_duration_seconds_sum{phase="total",website="shop"} 0.009' in text
    assert 'sitewatch_tls_certificate_expiry_timestamp_seconds{website="shop"} 1.79586e+09' in text
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


def test_phases_off_keeps_the_total_only() -> None:
    m = Metrics(phases=False)
    m.observe("shop", _result())
    text = _text(m)
    assert 'phase="total"' in text and 'phase="dns"' not in text


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
    assert 'sitewatch_website_info{type="icmp",website="gw"} 1.0' in text
    assert 'sitewatch_website_info{type="http",website="shop"} 1.0' in text
    assert 'sitewatch_checks_by_type_total{result="success",type="icmp"} 1.0' in text
    assert 'sitewatch_checks_by_type_total{result="failure",type="heartbeat"} 1.0' in text
    assert 'sitewatch_checks_by_type_total{result="internal",type="dns"} 0.0' in text
    assert 'sitewatch_icmp_packet_loss_ratio{website="gw"} 0.25' in text
    assert 'sitewatch_heartbeat_last_ping_timestamp_seconds{website="backup"} 1.7958564e+09' in text
    m.observe("gw", ping, "tcp")  # its type changed: one info series, the new one
    text = _text(m)
    assert 'type="icmp",website="gw"' not in text
    assert 'sitewatch_website_info{type="tcp",website="gw"} 1.0' in text
    m.keep(["shop"])
    text = _text(m)
    assert 'website="gw"' not in text and 'website="backup"' not in text
    assert text.count("sitewatch_checks_by_type_total{") == 18  # 6 types x 3 results
