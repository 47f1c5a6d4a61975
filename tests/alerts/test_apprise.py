"""Apprise channels against real local receivers that answer as each service
documents: Apprise's own json://, form:// and xml://, and the services whose
server address Apprise lets us set (ntfy, Gotify, Mattermost, Rocket.Chat,
Matrix), plus email through aiosmtpd. Then the outbox around them: a service
down for a while, several URLs of which one fails, a slow service next to a fast
one, and secrets that never reach the delivery log."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from sitewatch.alerts.channels import DeliveryError, Progress
from sitewatch.alerts.channels.apprise import AppriseChannel, target_ids
from sitewatch.config.models import AppriseAlert
from sitewatch.config.secrets import ConfigEnv
from sitewatch.config.templating import sample_event
from sitewatch.store import alerting as store
from tests.alerts.outboxes import outbox
from tests.alerts.test_delivery import result
from tests.receivers import Request, ServiceReceiver, SmtpSink
from tests.waiting import eventually

DOWN_TEXT = "Example is down: got 503, expected 2xx"


@pytest.fixture
async def channel() -> Any:
    made = AppriseChannel()
    yield made
    made.close()


async def send(channel: AppriseChannel, *urls: str, kind: str = "down", **fields: Any) -> str:
    alert = AppriseAlert.model_validate(
        {"name": "phone", "type": "apprise", "urls": list(urls), **fields}
    )
    return await channel.send(alert, sample_event(kind, "phone"), Progress({"urls": list(urls)}))


# -- each service's documented request ----------------------------------------------


async def test_json_form_and_xml_carry_title_message_and_type(channel: AppriseChannel) -> None:
    async with ServiceReceiver() as r:
        note = await send(
            channel,
            f"json://{r.address}/hook",
            f"form://{r.address}/form",
            f"xml://{r.address}/xml",
        )
    assert note.count(": sent") == 3, note
    by_path = {q.path: q for q in r.requests}
    as_json = by_path["/hook"]
    assert as_json.headers["Content-Type"].startswith("application/json")
    assert as_json.json["version"] == "1.0"
    assert as_json.json["title"] == "DOWN: Example"
    assert as_json.json["message"].startswith(DOWN_TEXT)
    assert as_json.json["type"] == "failure"
    form = by_path["/form"]
    assert form.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert form.form["title"] == "DOWN: Example" and form.form["type"] == "failure"
    assert form.form["message"].startswith(DOWN_TEXT)
    xml = by_path["/xml"]
    assert xml.headers["Content-Type"].startswith("application/xml")
    notification = next(
        e for e in ElementTree.fromstring(xml.body).iter() if e.tag.endswith("Notification")
    )
    fields = {child.tag: child.text for child in notification}
    assert fields["Subject"] == "DOWN: Example"
    assert fields["MessageType"] == "failure"
    assert (fields["Message"] or "").startswith(DOWN_TEXT)


async def test_more_urls_than_parallel_slots_each_get_it_once(channel: AppriseChannel) -> None:
    async with ServiceReceiver() as r:
        note = await send(channel, *(f"json://{r.address}/{i}" for i in range(9)))
    assert note.count(": sent") == 9, note
    assert sorted(q.path for q in r.requests) == [f"/{i}" for i in range(9)]


def _ntfy(req: Request) -> web.Response:
    # https://docs.ntfy.sh/publish/#publish-as-json: the message as it was stored
    body = req.json
    return web.json_response(
        {
            "id": "sPs4aBx5",
            "time": 1700000000,
            "event": "message",
            "topic": body["topic"],
            "message": body["message"],
        }
    )


def _gotify(req: Request) -> web.Response:
    # https://gotify.net/api-docs#/message/createMessage: 200 with the message
    if req.headers.get("X-Gotify-Key") != "AbCdEf123456":
        return web.json_response({"error": "Unauthorized", "errorCode": 401}, status=401)
    return web.json_response({"id": 25, "appid": 5, **req.json, "date": "2026-01-01T12:00:00Z"})


def _mattermost(req: Request) -> web.Response:
    # https://developers.mattermost.com/integrate/webhooks/incoming/: "ok"
    return web.Response(text="ok", content_type="text/plain")


def _rocketchat(req: Request) -> web.Response:
    # https://developer.rocket.chat/apidocs/login, /chat.postMessage, /logout
    if req.path == "/api/v1/login":
        if req.form != {"username": "sitewatch", "password": "pa55word"}:
            return web.json_response({"status": "error", "message": "Unauthorized"}, status=401)
        return web.json_response(
            {"status": "success", "data": {"authToken": "T0k3n", "userId": "U1d"}}
        )
    if req.headers.get("X-Auth-Token") != "T0k3n" or req.headers.get("X-User-Id") != "U1d":
        return web.json_response(
            {"status": "error", "message": "You must be logged in"}, status=401
        )
    if req.path == "/api/v1/chat.postMessage":
        return web.json_response(
            {"success": True, "channel": req.json["channel"], "message": {"_id": "m1"}}
        )
    return web.json_response({"status": "success", "data": {"message": "You've been logged out!"}})


def _matrix(req: Request) -> web.Response:
    # https://spec.matrix.org/v1.11/client-server-api/: login, join, send, logout
    if req.path == "/_matrix/client/v3/login":
        assert req.json["type"] == "m.login.password"
        return web.json_response(
            {"user_id": "@sitewatch:localhost", "access_token": "syt_abc", "device_id": "SW"}
        )
    if req.headers.get("Authorization") != "Bearer syt_abc":
        return web.json_response(
            {"errcode": "M_UNKNOWN_TOKEN", "error": "Invalid token"}, status=401
        )
    if "/join/" in req.path:
        return web.json_response({"room_id": "!ops:localhost"})
    if "/send/m.room.message/" in req.path:
        return web.json_response({"event_id": "$event1"})
    return web.json_response({})


async def test_ntfy_gets_a_json_publish(channel: AppriseChannel) -> None:
    async with ServiceReceiver(_ntfy) as r:
        note = await send(channel, f"ntfy://{r.address}/shop-alerts")
    assert "ntfy" in note and ": sent" in note, note
    (publish,) = r.requests
    assert (publish.method, publish.path) == ("POST", "/")
    assert publish.json["topic"] == "shop-alerts"
    assert publish.json["title"] == "DOWN: Example"
    assert publish.json["message"].startswith(DOWN_TEXT)


async def test_gotify_gets_a_message_with_its_app_token(channel: AppriseChannel) -> None:
    async with ServiceReceiver(_gotify) as r:
        note = await send(channel, f"gotify://{r.address}/AbCdEf123456")
    assert ": sent" in note, note
    (message,) = r.requests
    assert (message.method, message.path) == ("POST", "/message")
    assert message.json["title"] == "DOWN: Example"
    assert message.json["message"].startswith(DOWN_TEXT)
    assert isinstance(message.json["priority"], int)
    # The token is in the URL; the delivery note shows it shortened, never whole.
    assert "AbCdEf123456" not in note


async def test_gotify_refusing_the_token_is_a_failed_attempt(channel: AppriseChannel) -> None:
    async with ServiceReceiver(_gotify) as r:
        with pytest.raises(DeliveryError) as failed:
            await send(channel, f"gotify://{r.address}/WrongToken999")
    assert "Gotify" in str(failed.value)
    assert "WrongToken999" not in str(failed.value)


async def test_mattermost_gets_an_incoming_webhook_post(channel: AppriseChannel) -> None:
    async with ServiceReceiver(_mattermost) as r:
        await send(channel, f"mmost://{r.address}/h00ktoken1")
    (hook,) = r.requests
    assert (hook.method, hook.path) == ("POST", "/hooks/h00ktoken1")
    assert "DOWN: Example" in hook.json["text"]
    assert DOWN_TEXT in hook.json["text"]


async def test_rocketchat_logs_in_posts_to_the_channel_and_logs_out(
    channel: AppriseChannel,
) -> None:
    async with ServiceReceiver(_rocketchat) as r:
        note = await send(channel, f"rocket://sitewatch:pa55word@{r.address}/#ops")
    assert ": sent" in note, note
    assert r.paths() == [
        "POST /api/v1/login",
        "POST /api/v1/chat.postMessage",
        "POST /api/v1/logout",
    ]
    post = r.requests[1]
    assert post.json["channel"] == "#ops"
    assert "DOWN: Example" in post.json["text"]
    assert "pa55word" not in note


async def test_matrix_logs_in_joins_the_room_and_sends_a_text_message(
    channel: AppriseChannel,
) -> None:
    async with ServiceReceiver(_matrix) as r:
        note = await send(channel, f"matrix://sitewatch:pa55word@{r.address}/#ops?discovery=no")
    assert ": sent" in note, note
    paths = r.paths()
    assert paths[0] == "POST /_matrix/client/v3/login"
    assert any(p.startswith("POST /_matrix/client/v3/join/") for p in paths)
    (sent,) = [q for q in r.requests if "/send/m.room.message/" in q.path]
    assert sent.method == "PUT"
    assert sent.json["msgtype"] == "m.text"
    assert "DOWN: Example" in sent.json["body"] and DOWN_TEXT in sent.json["body"]


async def test_email_through_apprise_reaches_an_smtp_server(channel: AppriseChannel) -> None:
    smtp = SmtpSink().start()
    try:
        await send(
            channel,
            f"mailto://127.0.0.1:{smtp.port}?from=sitewatch@example.com&to=oncall@example.com&mode=insecure",
            kind="up",
        )
    finally:
        smtp.stop()
    assert smtp.subjects() == ["UP: Example"]
    assert smtp.envelopes == [("sitewatch@example.com", ["oncall@example.com"])]
    body = smtp.messages[0].get_payload(decode=True)
    assert isinstance(body, bytes) and b"Example is back up after 24m" in body


async def test_templates_make_the_title_and_message(channel: AppriseChannel) -> None:
    async with ServiceReceiver() as r:
        await send(
            channel,
            f"json://{r.address}/",
            kind="reminder",
            templates={
                "title": "{{ event.title }} {{ website.key }}",
                "message": "{{ website.name }} down for {{ incident.duration }}; "
                "TLS {{ result.timings.tls_ms }} ms; {{ incident.key }}",
            },
        )
    (posted,) = r.requests
    assert posted.json["title"] == "STILL DOWN example"
    assert posted.json["message"] == "Example down for 12m; TLS 22.9 ms; sitewatch/example/0"


async def test_a_template_that_fails_on_a_real_event_sends_the_default(
    channel: AppriseChannel,
) -> None:
    # Validates on the samples (their timings have a TLS phase) but this event's
    # check had none: the default text goes out and the note says why.
    event = sample_event("down", "phone")
    event["last_result"]["timings"]["tls_ms"] = None
    alert = AppriseAlert.model_validate(
        {
            "name": "phone",
            "type": "apprise",
            "urls": ["json://127.0.0.1:1/"],
            "templates": {"message": "TLS took {{ (result.timings.tls_ms * 1000) | int }} us"},
        }
    )
    async with ServiceReceiver() as r:
        alert = alert.model_copy(update={"urls": [f"json://{r.address}/"]})
        note = await channel.send(alert, event, Progress())
    assert r.requests[0].json["message"].startswith(DOWN_TEXT)
    assert "sent the default text: templates.message: line 1" in note


# -- through the outbox -------------------------------------------------------------


def apprise_alerts(*alerts: tuple[str, list[str]]) -> str:
    text = "alerts:\n"
    for name, urls in alerts:
        text += (
            f"  - name: {name}\n    type: apprise\n    urls: {urls}\n    timeout: 2s\n"
            "    failure_threshold: 1\n    success_threshold: 1\n    websites: '*'\n"
        )
    return text


async def rows(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        found = await conn.execute(select(store.outbox).order_by(store.outbox.c.id))
        return [dict(r._mapping) for r in found]


async def attempts(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        found = await conn.execute(select(store.attempts).order_by(store.attempts.c.id))
        return [dict(r._mapping) for r in found]


async def test_one_service_down_for_a_while_gets_it_once_and_the_others_never_twice(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with ServiceReceiver(_ntfy) as ntfy, ServiceReceiver(_gotify, fail_next=3) as gotify:
        alerts = apprise_alerts(
            ("phone", [f"ntfy://{ntfy.address}/shop", "gotify://${GOTIFY_HOST}/AbCdEf123456"])
        )
        env = {"GOTIFY_HOST": gotify.address}
        async with outbox(engine, tmp_path / "config", alerts, env) as (h, shop):
            t0 = datetime.now(UTC) - timedelta(minutes=5)
            await h.results(result(shop, t0, False))

            async def delivered() -> bool:
                await h.deliver()
                return all(r["status"] == "delivered" for r in await rows(engine))

            await eventually(delivered)
            await h.results(result(shop, t0 + timedelta(seconds=30), True))
            await eventually(delivered)
    # ntfy had the DOWN at the first attempt and never again; Gotify, down for
    # three requests, got it when it came back; then both got the UP, once.
    assert [q.json["title"] for q in ntfy.requests] == ["DOWN: Shop", "UP: Shop"]
    assert [q.json["title"] for q in gotify.requests] == ["DOWN: Shop", "UP: Shop"]
    assert gotify.refused == 3
    down, up = await rows(engine)
    assert down["status"] == up["status"] == "delivered"
    assert down["attempts"] == 4
    assert down["sent_to"] == sorted(
        target_ids(
            {"urls": [f"ntfy://{ntfy.address}/shop", "gotify://${GOTIFY_HOST}/AbCdEf123456"]}, 2
        )
    )
    log = [a for a in await attempts(engine) if a["outbox_id"] == down["id"]]
    assert [a["ok"] for a in log] == [False, False, False, True]
    assert "1 of 2 failed" in log[0]["detail"] and "Gotify" in log[0]["detail"]
    assert "ntfy" in log[0]["detail"] and ": sent" in log[0]["detail"]
    assert "1 had it from an earlier attempt" in log[-1]["detail"]
    for a in log:
        assert gotify.address not in a["detail"] or "${GOTIFY_HOST}" in a["detail"]


async def test_a_slow_service_does_not_hold_back_another_alert(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    release = asyncio.Event()
    async with ServiceReceiver(hold=release) as slow, ServiceReceiver() as fast:
        alerts = apprise_alerts(
            ("slow", [f"json://{slow.address}/"]), ("fast", [f"json://{fast.address}/"])
        )
        async with outbox(engine, tmp_path / "config", alerts) as (h, shop):
            stop = asyncio.Event()
            running = asyncio.create_task(h.alerting.dispatcher.run(stop))
            try:
                t0 = datetime.now(UTC) - timedelta(minutes=5)
                await h.results(result(shop, t0, False))
                h.alerting.dispatcher.wake()
                await eventually(lambda: len(fast.requests) == 1)
                # The UP of the fast alert is decided and delivered while the slow
                # service still holds the DOWN of its own alert.
                await h.results(result(shop, t0 + timedelta(seconds=30), True))
                h.alerting.dispatcher.wake()
                await eventually(lambda: len(fast.requests) == 2)
                assert slow.requests == []
                release.set()
                await eventually(lambda: len(slow.requests) == 2)
            finally:
                release.set()
                stop.set()
                await running
    assert [q.json["title"] for q in fast.requests] == ["DOWN: Shop", "UP: Shop"]
    assert [q.json["title"] for q in slow.requests] == ["DOWN: Shop", "UP: Shop"]


async def test_the_url_secrets_reach_no_log_and_no_stored_text(
    engine: AsyncEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with ServiceReceiver(_gotify) as gotify:
        url = f"gotify://{gotify.address}/Sup3rSecretT0ken"
        alerts = apprise_alerts(("phone", ["${GOTIFY_URL}"]))
        async with outbox(engine, tmp_path / "config", alerts, {"GOTIFY_URL": url}) as (h, shop):
            await h.results(result(shop, datetime.now(UTC) - timedelta(minutes=1), False))
            await h.deliver()  # Gotify refuses the token: a failed attempt
    assert gotify.requests  # it was tried
    (attempt,) = await attempts(engine)
    assert not attempt["ok"] and "Gotify" in attempt["detail"]
    stored = [str(r) for r in await rows(engine)] + [str(a) for a in await attempts(engine)]
    async with engine.connect() as conn:
        stored += [str(s) for s in (await store.alert_specs(conn)).values()]
    for text in [*stored, caplog.text]:
        assert "Sup3rSecretT0ken" not in text
    assert "${GOTIFY_URL}" in "".join(stored)


async def test_target_ids_follow_the_stored_text_not_the_position() -> None:
    first = target_ids({"urls": ["${A}", "${B}"]}, 2)
    assert target_ids({"urls": ["${B}", "${A}"]}, 2) == first[::-1]
    assert target_ids({"urls": "${A}"}, 1) == first[:1]
    assert target_ids({"urls": ["${A}"]}, 2) == ["#0", "#1"]  # not this config's stored form


async def test_validation_names_the_service_and_places_bad_urls(tmp_path: Path) -> None:
    from sitewatch.config.loader import load_config
    from sitewatch.errors import ConfigError

    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "monitors.yaml").write_text(
        "websites:\n  - name: Shop\n    url: https://shop.example.com/\n"
    )
    (folder / "alerts.yaml").write_text(
        "alerts:\n"
        "  - name: phone\n"
        "    type: apprise\n"
        "    urls:\n"
        "      - tgram://123456789:AAbbCCddEEffGGhh/12345\n"
        "      - tgrm://123456789:AAbbCCddEEffGGhh/12345\n"
        "      - ${BAD_TELEGRAM}\n"
        "      - not a url\n"
    )
    with pytest.raises(ConfigError) as failed:
        load_config(folder, ConfigEnv({"BAD_TELEGRAM": "tgram://S3cretButShort"}))
    messages = [p.format().removeprefix(f"{folder}/") for p in failed.value.problems]
    assert messages == [
        "alerts.yaml:6:9: alerts[0].urls[1]: unknown Apprise service tgrm:// (did you mean "
        "tgram:// or instagram://?); the services are listed at https://appriseit.com/services/",
        "alerts.yaml:7:9: alerts[0].urls[2]: not a valid Telegram URL (tgram://): Unparseable "
        "Telegram URL tgram://S...t",  # Apprise's privacy form
        "alerts.yaml:8:9: alerts[0].urls[3]: not an Apprise URL: expected service://..., e.g. "
        "tgram://BOT_TOKEN/CHAT_ID (see https://appriseit.com/services/)",
    ]
    assert "S3cretButShort" not in "\n".join(messages)
