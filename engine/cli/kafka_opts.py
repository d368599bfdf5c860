"""The cluster options of every command that talks to Kafka (`run`, `deliver`, `send`, `tail`): where the
broker is and how to log in.

The same names and environment variables as `journeyctl run` (JOURNEYCTL_BOOTSTRAP_SERVERS, ...), so
a shell set up for `run` reaches the same cluster; `--embedded-broker-port PORT` is the broker that
`run --embedded-broker` started on this machine (it prints the port).
"""
from __future__ import annotations

import functools
import os

import click

from journeyctl.engine.cli.startup import UsageProblem

PASSWORD_ENV = "JOURNEYCTL_SASL_PASSWORD"  # the SASL password comes only from here or a file, never a flag
ENV = "JOURNEYCTL_"


def env_option(*decls, **kw):
    """An option whose environment variable is JOURNEYCTL_ + its name, shown in --help: run and deliver
    are set up by container environments as often as by flags."""
    name = next(d for d in decls if d.startswith("--")).split("/")[0][2:].replace("-", "_")
    kw.setdefault("envvar", ENV + name.upper())
    kw.setdefault("show_envvar", True)
    return click.option(*decls, **kw)


def kafka_options(f):
    """Adds the cluster options; the command receives `kafka` (KafkaSettings) instead."""
    opts = [
        click.option("--bootstrap-servers", envvar="JOURNEYCTL_BOOTSTRAP_SERVERS", default="localhost:9092",
                     show_default=True, help="HOST:PORT[,HOST:PORT...] of the cluster."),
        click.option("--embedded-broker-port", type=click.IntRange(1, 65535),
                     help="The port of a broker `run --embedded-broker` started here (127.0.0.1:PORT)."),
        click.option("--security-protocol", envvar="JOURNEYCTL_SECURITY_PROTOCOL", default="PLAINTEXT",
                     show_default=True, help="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."),
        click.option("--sasl-mechanism", envvar="JOURNEYCTL_SASL_MECHANISM", help="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512."),
        click.option("--sasl-username", envvar="JOURNEYCTL_SASL_USERNAME"),
        click.option("--sasl-password-file", envvar="JOURNEYCTL_SASL_PASSWORD_FILE", type=click.Path(dir_okay=False),
                     help=f"File holding the SASL password (or set {PASSWORD_ENV})."),
        click.option("--ssl-cafile", envvar="JOURNEYCTL_SSL_CAFILE", type=click.Path(dir_okay=False)),
        click.option("--ssl-certfile", envvar="JOURNEYCTL_SSL_CERTFILE", type=click.Path(dir_okay=False)),
        click.option("--ssl-keyfile", envvar="JOURNEYCTL_SSL_KEYFILE", type=click.Path(dir_okay=False)),
    ]

    @functools.wraps(f)
    def wrapper(*args, bootstrap_servers, embedded_broker_port, **kw):
        names = ("security_protocol", "sasl_mechanism", "sasl_username", "sasl_password_file", "ssl_cafile",
                 "ssl_certfile", "ssl_keyfile")
        given = {n: kw.pop(n) for n in names}
        if embedded_broker_port is not None:
            bootstrap_servers = f"127.0.0.1:{embedded_broker_port}"
        try:
            kafka = kafka_settings({"bootstrap_servers": bootstrap_servers, **given})
        except Exception as e:  # noqa: BLE001 - UsageProblem: a password file that cannot be read
            raise click.UsageError(str(e)) from None
        problems = kafka.problems()
        if problems:
            raise click.UsageError("; ".join(problems))
        return f(*args, kafka=kafka, **kw)

    for opt in reversed(opts):
        wrapper = opt(wrapper)
    return wrapper


def kafka_settings(opts: dict):
    from journeyctl.engine.live.kafka_edge import KafkaSettings

    password = os.environ.get(PASSWORD_ENV) or None
    path = opts.get("sasl_password_file")
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                password = f.read().strip()
        except (OSError, UnicodeDecodeError) as e:
            raise UsageProblem(f"cannot read the SASL password file {path}: "
                               f"{getattr(e, 'strerror', None) or 'not text'}") from None
    return KafkaSettings(bootstrap_servers=opts["bootstrap_servers"], security_protocol=opts["security_protocol"],
                         sasl_mechanism=opts["sasl_mechanism"], sasl_username=opts["sasl_username"],
                         sasl_password=password, ssl_cafile=opts["ssl_cafile"], ssl_certfile=opts["ssl_certfile"],
                         ssl_keyfile=opts["ssl_keyfile"])
