"""What the benchmarks share: their own database and Redis db, the demo city, sampling and
printing. Nothing here touches the dev database `rasad` or the test databases."""

import asyncio
import os
import platform
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # scripts run as `python benchmarks/x.py`
    sys.path.insert(0, str(REPO))
# Such a script has benchmarks/ on its path too, where channels.py would shadow the
# `channels` package (Django Channels, used when the code publishes live events).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "benchmarks"]

# Each benchmark has a database of its own (intake and clustering can run side by side);
# BENCH_DATABASE_URL overrides the whole URL for all of them.
DATABASE_URL_TEMPLATE = "postgis://postgres:postgres@127.0.0.1:5432/{name}"
_database = {"name": "rasad_bench"}
# Redis db 15: throttle counters, live-map events and any task stay out of the dev db 0.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
PROTECTED_DATABASES = {"rasad", "postgres", "template0", "template1"}

# Tables the benchmarks empty before they start; CASCADE reaches anything pointing at them.
DOMAIN_TABLES = ("incidents_photo", "incidents_report", "incidents_incidentupdate",
                 "incidents_incident")


def database_use(name: str) -> None:
    """Pick this process's benchmark database (before database_ensure / django_start)."""
    _database["name"] = name


def database_url() -> str:
    url = os.environ.get("BENCH_DATABASE_URL",
                         DATABASE_URL_TEMPLATE.format(name=_database["name"]))
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    host = parts.hostname or ""
    if name in PROTECTED_DATABASES or name.startswith("test"):
        raise SystemExit(f"refusing to benchmark in the database {name!r}; use e.g. rasad_bench")
    if host not in {"127.0.0.1", "localhost", "::1"}:
        raise SystemExit(f"benchmarks run against 127.0.0.1 only, not {host!r}")
    return url


def bench_env() -> dict[str, str]:
    """Environment for the benchmark's Django, in-process and in the servers it starts."""
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "RASAD_SUBMIT_RATE": os.environ.get("RASAD_SUBMIT_RATE", "1000000/minute"),
        "DEBUG": "false",
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }


def database_ensure() -> None:
    """Create the benchmark database if missing, and migrate it with manage.py."""
    import psycopg

    parts = urlsplit(database_url())
    name = parts.path.lstrip("/")
    with psycopg.connect(host=parts.hostname, port=parts.port or 5432, user=parts.username,
                         password=parts.password, dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            print(f"creating database {name}")
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "--skip-checks",
                    "-v", "0"], cwd=REPO, env=bench_env(), check=True)


def django_start():
    """Set up Django in this process on the benchmark settings; load the demo city.

    Returns the demo ServiceArea."""
    os.environ.update(bench_env())
    import django

    django.setup()
    from fixtures.city import demo_city_load

    return demo_city_load()


def domain_tables_empty() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(DOMAIN_TABLES)} RESTART IDENTITY CASCADE")


def points_in_area(area, count: int, rng: random.Random) -> list[tuple[float, float]]:
    """Uniform random (lon, lat) points inside the area's boundary."""
    prepared = area.boundary.prepared
    x0, y0, x1, y1 = area.boundary.extent
    from django.contrib.gis.geos import Point

    points: list[tuple[float, float]] = []
    while len(points) < count:
        lon, lat = rng.uniform(x0, x1), rng.uniform(y0, y1)
        if prepared.contains(Point(lon, lat, srid=4326)):
            points.append((round(lon, 6), round(lat, 6)))
    return points


ATTRIBUTE_CHOICES = {
    "pothole": {"size": ("small", "medium", "large")},
    "road-damage": {"size": ("small", "medium", "large")},
    "water-leak": {"flow": ("drip", "stream", "flood")},
}


def attributes_for(category_code: str, rng: random.Random) -> dict:
    """Valid answers to the demo categories' required questions."""
    return {code: rng.choice(values)
            for code, values in ATTRIBUTE_CHOICES.get(category_code, {}).items()}


def percentile(values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (p in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def table_print(headers: list[str], rows: list[list]) -> None:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        print("  ".join(cell.rjust(width) if index and j else cell.ljust(width)
                        for j, (cell, width) in enumerate(zip(row, widths, strict=True))))
        if index == 0:
            print("  ".join("-" * width for width in widths))


def road_network_ensure(pbf, *, skip_import: bool) -> None:
    """Say what machine this is and how busy, then import the OpenStreetMap extract into
    the benchmark database (the network already there is kept with `skip_import`)."""
    from gis.roads import roads_import
    from gis.routing import network_loaded

    print(machine_describe())
    print("load average {:.1f} {:.1f} {:.1f} (1, 5, 15 min)".format(*os.getloadavg()))
    if not skip_import or not network_loaded():
        started = time.perf_counter()
        result = roads_import(path=pbf)
        print(f"\nimport {pbf}: {result.ways} ways, {result.edges} edges, "
              f"{result.vertices} vertices in {time.perf_counter() - started:.2f} s")


def machine_describe() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT split_part(version(), ' ', 2), postgis_lib_version()")
        pg, postgis = cursor.fetchone()
        cursor.execute("SHOW shared_buffers")
        (shared_buffers,) = cursor.fetchone()
    import django

    return (f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}, "
            f"Django {django.get_version()}, PostgreSQL {pg} (shared_buffers {shared_buffers}), "
            f"PostGIS {postgis}")


class CpuMeter:
    """CPU seconds used during a phase by the server (its process group), the PostgreSQL
    backends of the benchmark database and Redis, read from /proc.

    Sampled every 0.2 s: a backend that lives shorter than that (CONN_MAX_AGE=0 opens one
    per request) is missed, so the PostgreSQL figure is then a lower bound."""

    def __init__(self, *, server_pgid: int, database: str):
        self.server_pgid = server_pgid
        self.marker = f" {database} ".encode()
        self.tick = os.sysconf("SC_CLK_TCK")
        self.baseline: dict[tuple[str, int], float] = {}
        self.latest: dict[tuple[str, int], float] = {}

    def _read(self) -> dict[tuple[str, int], float]:
        found = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat") as stat:
                    raw = stat.read()
                comm = raw[raw.index("(") + 1:raw.rindex(")")]
                fields = raw[raw.rindex(")") + 2:].split()
                kind = None
                if int(fields[2]) == self.server_pgid:
                    kind = "server"
                elif comm.startswith("postgres"):
                    with open(f"/proc/{entry.name}/cmdline", "rb") as cmdline:
                        kind = "postgres" if self.marker in cmdline.read() + b" " else None
                elif comm.startswith("redis-server"):
                    kind = "redis"
            except (OSError, ValueError):
                continue
            if kind:
                found[(kind, int(entry.name))] = (int(fields[11]) + int(fields[12])) / self.tick
        return found

    def start(self) -> None:
        self.baseline = self._read()
        self.latest = dict(self.baseline)

    def sample(self) -> None:
        self.latest.update(self._read())

    def used(self) -> dict[str, float]:
        totals = {"server": 0.0, "postgres": 0.0, "redis": 0.0}
        for key, seconds in self.latest.items():
            totals[key[0]] += seconds - self.baseline.get(key, 0.0)
        return totals


def machine_busy_s() -> float:
    """Seconds of CPU the whole machine spent busy (all cores), from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def uvicorn_start(*, app: list[str], port: int, workers: int,
                  env: dict[str, str]) -> "subprocess.Popen":
    """A real uvicorn in its own process group, returned once /health/ answers 200."""
    import subprocess

    import httpx

    command = [sys.executable, "-m", "uvicorn", *app, "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(workers), "--log-level", "warning",
               "--no-access-log"]
    print("server:", " ".join(["uvicorn", *command[3:]]))
    process = subprocess.Popen(command, cwd=REPO, env=env, start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server_stop(process)
    raise SystemExit("the server did not become healthy within 90 s")


def server_stop(server) -> None:
    """Stop the server and the workers it spawned."""
    import signal
    import subprocess

    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


class HttpConnection:
    """One keep-alive HTTP/1.1 connection to the benchmarked server, written on asyncio
    streams. The load generator shares the machine's two cores with the server it measures;
    httpx spent about 3 ms of CPU per request, as much as the server's own work, and that
    time was taken from the server. This client spends a tenth of it."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def post(self, path: str, body: bytes, headers: dict[str, str] | None = None,
                   content_type: str = "application/json") -> tuple[int, bytes]:
        """POST and read the whole answer: (status, body). Raises OSError or
        asyncio.IncompleteReadError when the connection fails (it is then closed)."""
        if self.writer is None:
            await self._open()
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n{extra}\r\n")
        try:
            self.writer.write(head.encode("latin-1") + body)
            status_line = await self.reader.readuntil(b"\r\n")
            status = int(status_line.split(b" ", 2)[1])
            length, chunked, close = None, False, False
            while True:
                line = await self.reader.readuntil(b"\r\n")
                if line == b"\r\n":
                    break
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding":
                    chunked = b"chunked" in value.lower()
                elif name == b"connection":
                    close = b"close" in value.lower()
            if chunked:
                parts = []
                while True:
                    size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    chunk = await self.reader.readexactly(size + 2)
                    if size == 0:
                        break
                    parts.append(chunk[:-2])
                content = b"".join(parts)
            else:
                content = await self.reader.readexactly(length or 0)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            self.close()
            raise
        if close:
            self.close()
        return status, content


class HttpPool:
    """Up to `size` HttpConnections, each used by one request at a time."""

    def __init__(self, host: str, port: int, size: int):
        self._idle: asyncio.Queue[HttpConnection] = asyncio.Queue()
        for _ in range(size):
            self._idle.put_nowait(HttpConnection(host, port))

    async def post(self, path: str, body: bytes, headers: dict[str, str] | None = None,
                   ) -> tuple[int, bytes]:
        connection = await self._idle.get()
        try:
            return await connection.post(path, body, headers)
        finally:
            self._idle.put_nowait(connection)

    def close(self) -> None:
        while not self._idle.empty():
            self._idle.get_nowait().close()


# -- Closed- and open-loop HTTP load against endpoints served by one server ----------------

def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SERVERS = {
    "asgi": ["ops.asgi:application"],  # what `make run` serves
    "wsgi": ["ops.wsgi:application", "--interface", "wsgi"],  # a thread pool, for comparison
}


def server_start(*, port: int, workers: int, env: dict[str, str],
                 server: str = "asgi") -> "subprocess.Popen":
    return uvicorn_start(app=SERVERS[server], port=port, workers=workers,
                         env={**bench_env(), **env})


@dataclass
class Phase:
    """Figures of one endpoint, summed over its timed phases."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    wall_s: float = 0.0
    client_cpu_s: float = 0.0
    machine_busy_s: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)
    first_error: str = ""

    @property
    def requests(self) -> int:
        return len(self.latencies) + self.errors

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.wall_s if self.wall_s else 0.0


# One request: its body, and its headers (or None).
Item = tuple[bytes, "dict[str, str] | None"]


async def phase_run(client: "HttpPool", path: str, items: list[Item], *, concurrency: int,
                    into: Phase, meter: "CpuMeter", rate: float | None = None,
                    headers_for=None) -> None:
    """POST the items to `path`. Closed loop: `concurrency` clients, each sending its next
    request when the last one is answered. Open loop (`rate`): a request every 1/rate s
    whatever the answers, its latency counted from when it was due, so a server falling
    behind shows in it. `headers_for(headers)` gives each request's headers when they are
    made as it is sent (an idempotency key). A 200 or 201 counts as answered."""

    async def one_request(body: bytes, headers, due: float) -> None:
        if headers_for is not None:
            headers = headers_for(headers)
        try:
            status, content = await client.post(path, body, headers)
            ok = status in (200, 201)
            detail = f"{status} {content[:300].decode(errors='replace')}"
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            ok, detail = False, repr(exc)
        elapsed = time.perf_counter() - due
        if ok:
            into.latencies.append(elapsed)
        else:
            into.errors += 1
            into.first_error = into.first_error or detail

    pending = iter(items)  # shared by the clients: one event loop, no race

    async def one_client() -> None:
        for body, headers in pending:
            await one_request(body, headers, time.perf_counter())

    async def open_loop() -> None:
        started, sent = time.perf_counter(), []
        for index, (body, headers) in enumerate(items):
            due = started + index / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            sent.append(asyncio.create_task(one_request(body, headers, due)))
        await asyncio.gather(*sent)

    async def sampler() -> None:
        while True:
            await asyncio.sleep(0.2)
            meter.sample()

    meter.start()
    sampling = asyncio.create_task(sampler())
    busy0, cpu0, wall0 = machine_busy_s(), time.process_time(), time.perf_counter()
    if rate:
        await open_loop()
    else:
        await asyncio.gather(*(one_client() for _ in range(concurrency)))
    wall, client_cpu, busy = (time.perf_counter() - wall0, time.process_time() - cpu0,
                              machine_busy_s() - busy0)
    sampling.cancel()
    meter.sample()
    into.wall_s += wall
    into.client_cpu_s += client_cpu
    into.machine_busy_s += busy
    for name, seconds in meter.used().items():
        into.cpu_s[name] = into.cpu_s.get(name, 0.0) + seconds


async def load_rotating(*, port: int, meter: "CpuMeter", paths: dict[str, str],
                        items: list[Item], warmup: int, requests: int, rounds: int,
                        concurrency: int, rate: float | None = None,
                        headers_for=None) -> tuple[dict[str, Phase], dict[str, Phase]]:
    """Warm every endpoint up, then time them in `rounds` phases whose order rotates, so
    drift on the machine hits them alike. The timed figures per endpoint, and the
    warm-up's (for its errors)."""
    names = list(paths)
    results = {name: Phase() for name in names}
    warm = {name: Phase() for name in names}
    client = HttpPool("127.0.0.1", port, size=max(concurrency, 64) if rate else concurrency)
    try:
        for name in reversed(names):
            await phase_run(client, paths[name], items[:warmup], concurrency=concurrency,
                            into=warm[name], meter=meter, headers_for=headers_for)
        timed = items[warmup:warmup + requests]
        chunk = -(-requests // rounds)
        for index in range(rounds):
            part = timed[index * chunk:(index + 1) * chunk]
            shift = index % len(names)
            for name in names[shift:] + names[:shift]:
                await phase_run(client, paths[name], part, concurrency=concurrency,
                                into=results[name], meter=meter, rate=rate,
                                headers_for=headers_for)
    finally:
        client.close()
    return results, warm
