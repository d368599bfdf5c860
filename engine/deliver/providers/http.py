"""What the HTTP providers (webhook, twilio) share: one pooled client, and a response read as an Outcome.

2xx is accepted; 429 and 5xx, timeouts and refused connections are worth another try (429
and 503 with their Retry-After); any other answer (400, 401, 404, a redirect) will not change
by asking again, so it is a permanent failure with the provider's answer.
"""
from __future__ import annotations

import httpx

from journeyctl.engine.deliver.providers import Outcome, retry_after, short


def client(timeout: float, concurrency: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(timeout=httpx.Timeout(timeout), limits=limits, follow_redirects=False)


def check_url(url, what: str) -> list[str]:
    if not url:
        return [f"{what} is missing"]
    try:
        parsed = httpx.URL(str(url))
    except (httpx.InvalidURL, TypeError) as e:
        return [f"{what} {url!r} is not a URL ({e})"]
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return [f"{what} {url!r} is not an http:// or https:// URL"]
    return []


async def post(http: httpx.AsyncClient, url: str, id_from=None, **kw) -> Outcome:
    """One POST, its answer as an Outcome; never raises for what the network or the server does.
    id_from(response): the provider's id of an accepted message, if it gives one."""
    try:
        r = await http.post(url, **kw)
    except httpx.TimeoutException:
        return Outcome.retry(f"no answer from {_host(url)} in time")
    except httpx.TransportError as e:
        return Outcome.retry(f"cannot reach {_host(url)}: {type(e).__name__}")
    text = short(r.text, 300)
    answer = f"HTTP {r.status_code}" + (f": {text}" if text else "")
    if 200 <= r.status_code < 300:
        provider_id = None
        if id_from is not None:
            try:
                provider_id = id_from(r)
            except Exception:  # noqa: BLE001 - an accepted message without a readable id is still accepted
                provider_id = None
        return Outcome.sent(answer, provider_id)
    if r.status_code == 429 or r.status_code >= 500:
        return Outcome.retry(answer, retry_after(r.headers.get("retry-after")))
    return Outcome.failed(answer)


def _host(url: str) -> str:
    try:
        u = httpx.URL(url)
        return f"{u.host}:{u.port}" if u.port else str(u.host)
    except Exception:  # noqa: BLE001
        return "the server"
