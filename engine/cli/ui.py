"""`journeyctl ui`: the web dashboard (engine/ui/) over a state store that `run` writes, until Ctrl-C.

Read-only: it opens the store read-only and never writes it, so it may run beside any number of
`run` workers (or on a copy of their store). Listens on 127.0.0.1 by default; another address
(0.0.0.0 to reach it from elsewhere) needs a token, which every request must then carry.
"""
from __future__ import annotations

import os
import sys

import click

TOKEN_ENV = "JOURNEYCTL_UI_TOKEN"


def token_option(f):
    """--token and --token-file, shared with `run --ui-port`."""
    f = click.option("--token-file", "token_file", type=click.Path(dir_okay=False),
                     help=f"File holding the access token (or set {TOKEN_ENV}).")(f)
    return click.option("--token", help=f"Access token every request must carry; required off loopback "
                                        f"(prefer --token-file or {TOKEN_ENV}: a command line is visible to "
                                        "others on the machine).")(f)


def read_token(token: str | None, token_file: str | None) -> str | None:
    """The token from --token, --token-file or the environment; ValueError in plain words."""
    if token_file:
        try:
            with open(token_file, encoding="utf-8") as f:
                token = f.read().strip()
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(f"cannot read the token file {token_file}: {getattr(e, 'strerror', None) or 'not text'}")
        if not token:
            raise ValueError(f"the token file {token_file} is empty")
    token = token or os.environ.get(TOKEN_ENV) or None
    if token is not None and len(token) < 16:
        raise ValueError("the UI token is too short to keep anyone out: use at least 16 characters "
                         "(python3 -c 'import secrets; print(secrets.token_urlsafe())' makes one)")
    return token


@click.command()
@click.option("--state", "state_url", default="sqlite:///journeyctl-state.db", show_default=True,
              help="The store `run` writes: sqlite:///file.db or postgresql://user@host/db[?schema=name].")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs a token.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="0 picks a free one.")
@token_option
def ui(state_url, host, port, token, token_file):
    """Serve the live web dashboard of the journeys in a state store (read-only)."""
    from journeyctl.engine.ui.app import UiServer
    from journeyctl.engine.ui.reader import ReaderError, open_reader

    try:
        token = read_token(token, token_file)
        reader = open_reader(state_url)
        server = UiServer(reader, host, port, token)
    except (ValueError, OSError, ReaderError) as e:
        click.echo(f"journeyctl ui: {e}", err=True)
        sys.exit(2)
    where = server.url + ("?token=…  (your token; the page then keeps it in a cookie)" if token else "")
    click.echo(f"journeyctl ui: serving {where}, read-only, from {getattr(reader, 'url', None) or reader.path}; "
               "Ctrl-C stops", err=True)
    try:
        server.run()
    finally:
        reader.close()


def overview_record(state_url: str, period: str, limit: int) -> dict:
    """`journeyctl status --format json`: exactly the numbers of the UI's overview at this moment (its
    chart aside), from the engine's counters: no customer is scanned."""
    from journeyctl.engine.ui import figures
    from journeyctl.engine.ui.reader import ReaderError, open_reader

    try:
        reader = open_reader(state_url)
        if not reader.has_state():
            raise ReaderError(f"{state_url} holds no engine state yet")
        data = figures.overview(reader, period, waiting=limit)
    except ReaderError as e:
        click.echo(f"journeyctl: {e}", err=True)
        sys.exit(2)
    data.pop("chart")
    return data


def start_for_run(state_url: str, host: str, port: int):
    """`run --ui-port`: the dashboard on its own thread, over its own read-only view of run's store."""
    from journeyctl.engine.ui.app import UiServer
    from journeyctl.engine.ui.reader import ReaderError, open_reader

    try:
        reader = open_reader(state_url)
    except ReaderError as e:
        raise ValueError(str(e)) from None
    return UiServer(reader, host, port, read_token(None, os.environ.get(TOKEN_ENV + "_FILE"))).start()
