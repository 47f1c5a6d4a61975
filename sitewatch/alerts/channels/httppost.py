"""One POST to a receiver, with what every HTTP channel needs: a timeout, no
redirects, a bounded read of the answer, and a ``DeliveryError`` saying why."""

from __future__ import annotations

import aiohttp

from sitewatch.alerts.channels import DeliveryError


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float,  # noqa: ASYNC109 (the receiver's timeout, passed to aiohttp)
    *,
    shown: str | None = None,
) -> tuple[int, str]:
    """(status, the first 300 characters of the answer) of a 2xx answer; any other
    answer, or none, raises ``DeliveryError``. ``shown``: the URL as messages may
    quote it (an API's path holds no secret, but a webhook URL may)."""
    where = shown or url
    try:
        async with session.post(
            url,
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
            allow_redirects=False,
        ) as response:
            snippet = (await response.content.read(300)).decode("utf-8", "replace").strip()
            if 200 <= response.status < 300:
                return response.status, snippet
            raise DeliveryError(f"HTTP {response.status}: {snippet[:200]}".rstrip(": "))
    except (aiohttp.ClientError, OSError) as exc:
        raise DeliveryError(f"POST {where}: {str(exc) or type(exc).__name__}") from None
    except TimeoutError:
        raise DeliveryError(f"POST {where}: no answer within {timeout:g}s") from None
