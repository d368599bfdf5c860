"""The cluster options of the operator commands (`send`, `tail`): where the broker is and how to log in.

The same names and environment variables as `journeyctl run` (JOURNEYCTL_BOOTSTRAP_SERVERS, ...), so
a shell set up for `run` reaches the same cluster; `--embedded-broker-port PORT` is the broker that
`run --embedded-broker` started on this machine (it prints the port).
"""
from __future__ import annotations

import functools

import click

from journeyctl.engine.cli.run import PASSWORD_ENV, kafka_settings


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
