"""`twilio`: SMS and WhatsApp through Twilio's Messages REST API shape.

POST {base_url}/2010-04-01/Accounts/{sid}/Messages.json, form-encoded To, From and Body,
basic auth sid:token; on the whatsapp channel both addresses are prefixed `whatsapp:`.
base_url defaults to https://api.twilio.com and can point at any gateway with the same shape
(or at a local server in tests). Twilio's Messages API takes no idempotency key, so the
`Idempotency-Key` header is sent for gateways that honour it; with Twilio itself a crash in
the window between its acceptance and our commit can send one message twice (see README).
"""
from __future__ import annotations

from urllib.parse import quote, urlencode

import orjson

from journeyctl.engine.deliver.providers import Message, Outcome, SettingsError, secret
from journeyctl.engine.deliver.providers.http import basic_auth, check_url, client, post

DEFAULT_BASE = "https://api.twilio.com"


class TwilioProvider:
    NAME = "twilio"
    OPTIONS = {"base_url": (False, f"the API's address (default {DEFAULT_BASE})"),
               "account_sid": (False, "the account SID (or account_sid_env)"),
               "account_sid_env": (False, "environment variable holding the account SID"),
               "auth_token_env": (False, "environment variable holding the auth token"),
               "auth_token_file": (False, "file holding the auth token"),
               "from": (True, "the sender: a phone number, or a messaging service's number")}

    def __init__(self, channel: str, options: dict, env, timeout: float = 10.0, concurrency: int = 64):
        self.channel = channel
        self.base = str(options.get("base_url") or DEFAULT_BASE).rstrip("/")
        sid_var = options.get("account_sid_env")
        self.sid = str(options.get("account_sid") or (env.get(str(sid_var)) if sid_var else "") or "")
        self._problems = []
        if not self.sid:
            self._problems.append("account_sid: set it, or account_sid_env to a variable that is set"
                                  + (f" ({sid_var} is not)" if sid_var else ""))
        try:
            self._token = secret(options, "auth_token", env, required=True)
        except SettingsError as e:
            self._token = None
            self._problems.append(str(e))
        self.sender = str(options.get("from") or "")
        self._timeout, self._concurrency = timeout, concurrency
        self._http = None

    @property
    def url(self) -> str:
        return f"{self.base}/2010-04-01/Accounts/{quote(self.sid, safe='')}/Messages.json"

    def problems(self) -> list[str]:
        out = list(self._problems) + check_url(self.base, "base_url")
        if not self.sender:
            out.append("from is missing")
        return out

    def describe(self) -> str:
        return f"twilio {self.base} as {self.sender}"

    def _address(self, value: str) -> str:
        value = str(value)
        if self.channel == "whatsapp" and not value.startswith("whatsapp:"):
            return "whatsapp:" + value
        return value

    async def send(self, message: Message) -> Outcome:
        if not message.to:
            return Outcome.failed(f"no address: the customer's profile has none for {self.channel}")
        if self._http is None:
            self._http = client(self._timeout, self._concurrency)
        form = {"To": self._address(message.to), "From": self._address(self.sender), "Body": message.body}
        headers = {"content-type": "application/x-www-form-urlencoded",
                   "authorization": basic_auth(self.sid, self._token or ""), "idempotency-key": message.action_id}
        return await post(self._http, self.url, urlencode(form).encode(), headers, self._timeout,
                          id_from=lambda raw: orjson.loads(raw).get("sid"))

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

