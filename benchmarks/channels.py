"""Channels throughput: WhatsApp webhook deliveries against a bare signed-webhook endpoint.

All endpoints are served by the same real server (uvicorn ops.asgi:application, as `make run`
serves it, here with --workers 2) in the same run, hit by concurrent keep-alive clients
(asyncio streams, benchmarks.common.HttpConnection) with the same signed bodies: WhatsApp
text messages built and signed as Meta sends them (fixtures.channel_payloads), each a new
wamid from one of many senders, plus a share of redeliveries of earlier bodies byte for byte.
Rasad checks the signature, parses, stores the message once and queues the worker's task.
The target's baseline, the bare signed webhook, checks the signature, stores the raw body in
one INSERT and answers 200: the least a webhook may do that must not lose a delivery it said
200 to (the provider does not send it again), as the intake benchmark's bare endpoint stores
its row. verify-only, which answers 200 without storing anything, is printed for reference.
Timed phases rotate between the endpoints so drift on the machine hits them alike. Prints a
table; asserts nothing.

    .venv/bin/python benchmarks/channels.py [--requests 2000] [--concurrency 16] [--workers 2]
"""

import argparse
import asyncio
import os
import random
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (
    SERVERS,
    CpuMeter,
    Phase,
    bench_env,
    database_ensure,
    database_use,
    django_start,
    free_port,
    load_rotating,
    machine_describe,
    percentile,
    server_start,
    server_stop,
    table_print,
)

RASAD_PATH = "/channels/whatsapp/webhook"
BARE_PATH = "/bench/bare-webhook/"
BARE_INSERT_PATH = "/bench/bare-webhook-insert/"
PATHS = {"rasad": RASAD_PATH, "bare": BARE_INSERT_PATH, "verify-only": BARE_PATH}
TARGET_RATIO = 0.5
TARGET_P95_MS = 100.0
# The server's WhatsApp channel is turned on through its environment, as in production.
APP_SECRET = "bench-whatsapp-secret"
SERVER_CHANNEL_ENV = {"RASAD_WHATSAPP_APP_SECRET": APP_SECRET,
                      "RASAD_WHATSAPP_VERIFY_TOKEN": "bench-verify-token"}
# Emptied at the start of a run; CASCADE reaches conversations, inbox items and the rest.
CHANNEL_TABLES = ("incidents_inboundmessage", "incidents_channelcontact")

# What a storm night sounds like.
TEXTS = (
    "A tree has fallen across the road",
    "Water is coming up from the drains",
    "The street light by the bus stop is out",
    "A power line is down on the pavement",
    "The underpass is flooded, cars are stuck",
    "Roof tiles are falling onto the street",
    "A big branch blocks the cycle path",
    "The manhole cover has been lifted by the water",
    "درخت روی خیابان افتاده است",
    "الماء يغمر الشارع أمام المدرسة",
)
STREETS = ("Mannerheimintie", "Aleksanterinkatu", "Bulevardi", "Fredrikinkatu",
           "Esplanadi", "Hämeentie", "Runeberginkatu", "Lönnrotinkatu")
NAMES = ("Aino Virtanen", "Mikko Korhonen", "Maryam Rahimi", "Ahmad Karimi", "Leila Haddad",
         "Jussi Nieminen", "مریم احمدی", "علی رضایی", "Sara Lindqvist", "Omar Farouk")


@dataclass
class Deliveries:
    """Signed bodies in the order they are sent, and what they hold."""

    items: list[tuple[bytes, dict[str, str]]]
    distinct: int  # new wamids
    redelivered: int  # earlier bodies sent again
    senders: int


def _deliveries(count: int, *, senders: int, redeliveries: float, concurrency: int,
                rng: random.Random) -> Deliveries:
    """WhatsApp text messages from `senders` numbers, each with a new wamid, signed as Meta
    signs them. A share `redeliveries` of the positions carries instead an earlier body again,
    byte for byte (Meta redelivers a delivery it saw no 200 for), taken from at least
    2 × concurrency positions back so the original has usually been answered."""
    from fixtures import channel_payloads as payloads

    numbers = [f"3584{n:08d}" for n in rng.sample(range(10**8), senders)]
    names = {number: rng.choice(NAMES) for number in numbers}
    items: list[tuple[bytes, dict[str, str]]] = []
    distinct = redelivered = 0
    for index in range(count):
        if index >= 2 * concurrency and rng.random() < redeliveries:
            items.append(items[rng.randrange(index - 2 * concurrency)])
            redelivered += 1
            continue
        sender = rng.choice(numbers)
        text = f"{rng.choice(TEXTS)}, {rng.choice(STREETS)} {rng.randrange(1, 120)}"
        body, headers = payloads.signed_json(
            payloads.wa_text(sender, text, name=names[sender]), APP_SECRET)
        items.append((body, {"X-Hub-Signature-256": headers["X-Hub-Signature-256"]}))
        distinct += 1
    return Deliveries(items=items, distinct=distinct, redelivered=redelivered, senders=senders)


QUEUE_PREFIX = "bench-channels-"


def queue_drop(queue: str) -> int:
    """Delete a run's task queue (no worker consumed it); return how many tasks it held.

    Kombu deletes only the queues this process has bound, so the queue is declared here as
    Celery declares its default queue (a direct exchange of the same name) before it goes."""
    from kombu import Exchange, Queue
    from kombu.exceptions import ChannelError

    from ops.celery import app as celery_app

    with celery_app.connection_for_write() as connection:
        bound = Queue(queue, Exchange(queue, type="direct"), routing_key=queue)(
            connection.default_channel)
        bound.declare()
        try:
            waiting = bound.queue_declare(passive=True).message_count
        except ChannelError:  # Redis has no empty lists: nothing was queued
            waiting = 0
        bound.delete()
    return waiting


def queues_left_over() -> list[str]:
    """Queues of earlier runs that ended before they could delete theirs (a kill -9): their
    names carry the pid of a script that is gone."""
    import redis

    client = redis.Redis.from_url(bench_env()["CELERY_BROKER_URL"])
    names = set()
    for pattern in (f"{QUEUE_PREFIX}*", f"_kombu.binding.{QUEUE_PREFIX}*"):
        for key in client.scan_iter(match=pattern):
            name = key.decode().removeprefix("_kombu.binding.").split("\x06\x16")[0]
            names.add(name)
    client.close()
    return sorted(name for name in names if not _alive(name.removeprefix(QUEUE_PREFIX)))


def _alive(name: str) -> bool:
    pid = name.split("-")[0]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def channel_tables_empty() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(CHANNEL_TABLES)} RESTART IDENTITY CASCADE")


def main(argv: list[str] | None = None) -> dict[str, Phase]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000,
                        help="timed deliveries per endpoint")
    parser.add_argument("--warmup", type=int, default=200, help="untimed deliveries per endpoint")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    parser.add_argument("--rate", type=float, default=None,
                        help="open loop instead: send this many deliveries/s to each endpoint "
                             "(latency counted from when each delivery was due)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--rounds", type=int, default=4,
                        help="timed phases per endpoint, rotating between the endpoints")
    parser.add_argument("--senders", type=int, default=500,
                        help="distinct WhatsApp numbers the messages come from")
    parser.add_argument("--redeliveries", type=float, default=0.1,
                        help="share of deliveries that repeat an earlier body byte for byte")
    parser.add_argument("--keep-data", action="store_true",
                        help="keep the contacts and messages already in the benchmark database")
    parser.add_argument("--server", choices=sorted(SERVERS), default="asgi",
                        help="asgi: uvicorn ops.asgi:application (as `make run`); wsgi: uvicorn "
                             "--interface wsgi ops.wsgi:application (threads reused)")
    parser.add_argument("--conn-max-age", type=int, default=60,
                        help="the server's DB_CONN_MAX_AGE (default the app's own 60)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    database_use("rasad_bench_channels")
    database_ensure()
    django_start()
    from django.db import connection

    from benchmarks.bare import PLAIN_TABLE_SQL
    from incidents.models import ChannelContact, InboundMessage

    if not args.keep_data:
        channel_tables_empty()
    with connection.cursor() as cursor:
        cursor.execute(PLAIN_TABLE_SQL)
        cursor.execute("TRUNCATE bench_plain RESTART IDENTITY")
    messages_before = InboundMessage.objects.count()
    contacts_before = ChannelContact.objects.count()
    rng = random.Random(args.seed)
    deliveries = _deliveries(args.warmup + args.requests, senders=args.senders,
                             redeliveries=args.redeliveries, concurrency=args.concurrency,
                             rng=rng)
    sizes = sorted(len(body) for body, _headers in deliveries.items)
    machine = machine_describe()
    connection.close()

    print(f"\n== Channels: POST {RASAD_PATH} vs bare signed webhook {BARE_INSERT_PATH} ==")
    print(f"machine: {machine}")
    port = free_port()
    for left_over in queues_left_over():
        print(f"deleting the queue of an interrupted run: {left_over} "
              f"({queue_drop(left_over)} tasks)")
    queue = f"{QUEUE_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    server_env = {**SERVER_CHANNEL_ENV, "DB_CONN_MAX_AGE": str(args.conn_max_age),
                  "BENCH_CELERY_QUEUE": queue}
    try:
        server = server_start(port=port, workers=args.workers, env=server_env,
                              server=args.server)
        try:
            meter = CpuMeter(server_pgid=server.pid, database=connection.settings_dict["NAME"])
            results, warm = asyncio.run(load_rotating(
                port=port, meter=meter, paths=PATHS, items=deliveries.items, warmup=args.warmup,
                requests=args.requests, rounds=args.rounds, concurrency=args.concurrency,
                rate=args.rate))
        finally:
            server_stop(server)
    finally:
        tasks_queued = queue_drop(queue)

    rasad, bare, verify_only = results["rasad"], results["bare"], results["verify-only"]
    stored = InboundMessage.objects.count() - messages_before
    contacts = ChannelContact.objects.count() - contacts_before
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bench_plain")
        (plain_rows,) = cursor.fetchone()
    shape = (f"open loop at {args.rate:g} deliveries/s per endpoint (asyncio streams, one "
             f"process)" if args.rate else f"{args.concurrency} concurrent keep-alive clients "
             f"(asyncio streams, one process)")
    print(f"load: {shape}, {args.warmup} warm-up + {args.requests} timed deliveries per endpoint "
          f"in {args.rounds} rotating phases; uvicorn --workers {args.workers} "
          f"({args.server.upper()}); DB connections: CONN_MAX_AGE={args.conn_max_age}; "
          f"DEBUG off; tasks to queue {queue}, which no worker consumes")
    print(f"deliveries: {deliveries.distinct} WhatsApp text messages (new wamids) from "
          f"{deliveries.senders} numbers, plus {deliveries.redelivered} redeliveries "
          f"({deliveries.redelivered / len(deliveries.items):.0%}) of earlier bodies byte for "
          f"byte; bodies {sizes[0]}–{sizes[-1]} bytes, signed with X-Hub-Signature-256")
    print(f"bare: verify, INSERT the raw body into bench_plain ({plain_rows} rows now), "
          f"answer 200; verify-only: verify, answer 200\n")
    rows = []
    for name, path in PATHS.items():
        phase = results[name]
        rows.append([f"{name} {path}", phase.requests, phase.errors,
                     f"{phase.per_second:.1f}",
                     f"{percentile(phase.latencies, 50) * 1000:.1f}",
                     f"{percentile(phase.latencies, 95) * 1000:.1f}",
                     f"{percentile(phase.latencies, 99) * 1000:.1f}"])
    table_print(["endpoint", "requests", "errors", "deliveries/s", "p50 ms", "p95 ms",
                 "p99 ms"], rows)
    print("\nCPU per delivery (ms, summed over cores):")
    cpu_rows = []
    for name, phase in results.items():
        done = max(1, len(phase.latencies))
        parts = [phase.cpu_s.get(k, 0.0) for k in ("server", "postgres", "redis")]
        parts.append(phase.client_cpu_s)
        cpu_rows.append([name, *(f"{1000 * part / done:.2f}" for part in parts),
                         f"{1000 * sum(parts) / done:.2f}"])
    table_print(["endpoint", "uvicorn", "postgres", "redis", "client", "total"], cpu_rows)
    cores = os.cpu_count() or 1
    ours = sum(sum(p.cpu_s.values()) + p.client_cpu_s for p in results.values())
    wall = sum(p.wall_s for p in results.values())
    others = (sum(p.machine_busy_s for p in results.values()) - ours) / wall
    print(f"other processes on the machine used {others:.2f} of {cores} cores during the "
          f"timed phases (load average now {os.getloadavg()[0]:.1f})")

    sent = args.warmup + args.requests  # the warm-up's deliveries were stored too
    answered = sent - rasad.errors - warm["rasad"].errors
    print(f"\nstored: {stored} messages from {contacts} contacts for {sent} deliveries to "
          f"rasad; distinct messages sent: {deliveries.distinct} "
          f"({'equal' if stored == deliveries.distinct else 'DIFFERENT'})")
    print(f"duplicates refused: {answered - stored} (redeliveries sent: "
          f"{deliveries.redelivered}); worker tasks queued: {tasks_queued} for {stored} new "
          f"messages (one per contact woken; a contact with two messages in one wake-up "
          f"batch gets one), queue deleted")
    p95 = percentile(rasad.latencies, 95) * 1000
    if args.rate:
        print("\nrasad/bare throughput: n/a in open loop (all get the same offered rate; "
              "run without --rate for the ratio)")
    else:
        ratio = rasad.per_second / bare.per_second if bare.per_second else float("nan")
        reference = (rasad.per_second / verify_only.per_second if verify_only.per_second
                     else float("nan"))
        print(f"\nrasad/bare throughput: {ratio:.2f}   (target >= {TARGET_RATIO}: "
              f"{'MET' if ratio >= TARGET_RATIO else 'MISSED'})")
        print(f"rasad/verify-only throughput: {reference:.2f}   (reference, no target: "
              f"verify-only stores nothing)")
    print(f"rasad p95: {p95:.1f} ms   (target < {TARGET_P95_MS:.0f} ms: "
          f"{'MET' if p95 < TARGET_P95_MS else 'MISSED'})")
    for figures in (warm, results):
        for name, phase in figures.items():
            if phase.errors:
                kind = "warm-up" if figures is warm else "timed"
                print(f"first {name} error ({kind}): {phase.first_error}")
    return results


if __name__ == "__main__":
    main()
