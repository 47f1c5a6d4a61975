"""The dashboard with every check type: each page shows what its type's last
check found; the form offers each type's fields; a heartbeat's page its ping
URL and pings."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from tests.appclient import page_text, record_check, start_client

MONITORS = textwrap.dedent(
    """\
    websites:
      - name: Mail TLS
        type: tls
        host: mail.example.com
        port: 465
      - name: MX
        type: dns
        domain: example.com
        record: MX
        expect: "10 mx1.example.com"
      - name: Gateway
        type: icmp
        host: 10.0.0.1
      - name: Backup
        type: heartbeat
        schedule: "0 3 * * *"
        tz: Europe/Berlin
        grace: 30m
    """
)
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def test_each_type_shows_what_its_check_found(config_dir: Path, database_url: str) -> None:
    (config_dir / "monitors.yaml").write_text(MONITORS)
    client = await start_client(config_dir, database_url)
    try:
        await record_check(
            client,
            "mail-tls",
            True,
            details={
                "subject": "CN=mail.example.com",
                "issuer": "CN=R11,O=Let's Encrypt,C=US",
                "names": ["mail.example.com", "smtp.example.com"],
                "expires": "2027-02-02T08:14:00+00:00",
                "version": "TLSv1.3",
            },
        )
        await record_check(
            client,
            "mx",
            True,
            details={
                "record": "MX",
                "resolver": "10.0.0.53:53",
                "rcode": "NOERROR",
                "ttl": 300,
                "answers": ["10 mx1.example.com"],
            },
        )
        await record_check(
            client,
            "gateway",
            True,
            details={
                "address": "10.0.0.1",
                "sent": 3,
                "received": 3,
                "loss": 0.0,
                "min_ms": 0.4,
                "avg_ms": 0.6,
                "max_ms": 0.9,
            },
        )
        page = await page_text(client, "/websites/mail-tls")
        assert "tls://mail.example.com:465" in page and "CN=R11,O=Let&#39;s Encrypt,C=US" in page
        assert "mail.example.com, smtp.example.com" in page and "2027-02-02 08:14:00 UTC" in page
        page = await page_text(client, "/websites/mx")
        assert "dns://example.com/MX" in page and "10 mx1.example.com" in page
        assert "NOERROR, TTL 300 s" in page
        page = await page_text(client, "/websites/gateway")
        assert "3 of 3 (0.0% lost)" in page
        page = await page_text(client, "/websites/backup")
        assert 'data-field="ping-url"' in page
        url = re.search(r"(http://127\.0\.0\.1:\d+/ping/backup/[A-Za-z0-9_-]{22})", page)
        assert url is not None
        assert "a ping after each run of <code>0 3 * * *</code> (Europe/Berlin)" in page
        path = "/" + url.group(1).split("/", 3)[3]
        assert (await client.post(path + "/fail", data=b"<b>disk</b> full")).status == 200
        page = await page_text(client, "/websites/backup")
        assert "&lt;b&gt;disk&lt;/b&gt; full" in page and "✕ fail" in page  # escaped
        # Every type's form opens on its own fields.
        form = await page_text(client, "/websites/mx/edit")
        assert '<option value="dns" selected>' in form
        assert 'data-groups="dns"' in form and 'name="dns_expect"' in form
        assert "10 mx1.example.com" in form
        new = await page_text(client, "/websites/new")
        token = CSRF.search(new)
        assert token is not None
        created = await client.post(
            "/websites/new",
            data={
                "csrf": token.group(1),
                "name": "Nightly export",
                "type": "heartbeat",
                "period": "1d",
                "grace": "2h",
                "url": "https://left-over-from-another-type/",
                "active": "true",
            },
            allow_redirects=False,
        )
        assert created.status == 303, await created.text()
        written = (config_dir / "monitors.yaml").read_text()
        assert written.endswith(
            "  - name: Nightly export\n    type: heartbeat\n    period: 1d\n    grace: 2h\n"
        )
        bad = await client.post(
            "/websites/new",
            data={"csrf": token.group(1), "name": "Both", "type": "heartbeat", "active": "true"},
        )
        assert bad.status == 422
        assert "either period" in await bad.text()
    finally:
        await client.close()
