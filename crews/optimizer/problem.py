"""Parse and validate a VROOM input problem into a model both engines read.

Follows https://github.com/VROOM-Project/vroom/blob/master/docs/API.md for `jobs`,
`vehicles` and `matrices`, with two extensions: skills may be strings as well as integers
("plow"), and matrices may hold non-integral numbers (durations and costs are rounded to
integers, distances are kept in double precision for reporting).

Every location gets a row in the matrices. With `matrices` the row is the given
`location_index`; without them, locations must be [lon, lat] coordinates and the matrices
are the great-circle fallback (detour factor × great-circle distance, at a fixed speed).
"""

import math
from dataclasses import dataclass

import numpy as np

DEFAULT_PROFILE = "car"
# VROOM reads times and amounts as unsigned 32-bit integers; its default window is [0, max].
MAX_UINT32 = 2**32 - 1
UNBOUNDED = MAX_UINT32
EARTH_RADIUS_M = 6_371_008.8
DETOUR_FACTOR = 1.3
FALLBACK_SPEED_M_S = 30 / 3.6
MATRIX_GREAT_CIRCLE = "great_circle"
MATRIX_PROVIDED = "provided"
# Accepted for VROOM compatibility but not modelled: refusing them beats silently ignoring them.
UNSUPPORTED_TOP = ("shipments",)
UNSUPPORTED_JOB = ("setup", "setup_per_type", "service_per_type")
UNSUPPORTED_VEHICLE = ("steps", "costs", "speed_factor")


class ProblemError(ValueError):
    """An input error (VROOM code 2). `field` is the JSON path, e.g. `jobs[3].time_windows[0]`."""

    code = 2

    def __init__(self, message: str, field: str | None = None):
        super().__init__(f"{field}: {message}" if field else message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Window:
    start: int
    end: int


FULL_WINDOW = Window(0, UNBOUNDED)


@dataclass(frozen=True)
class Job:
    id: int
    index: int  # row in the matrices
    location: tuple[float, float] | None  # as given, echoed in the solution
    location_index: int | None  # as given, echoed in the solution
    service: int
    delivery: tuple[int, ...]
    pickup: tuple[int, ...]
    skills: frozenset
    priority: int
    time_windows: tuple[Window, ...]  # never empty
    description: str = ""


@dataclass(frozen=True)
class Break:
    id: int
    time_windows: tuple[Window, ...]
    service: int
    description: str = ""


@dataclass(frozen=True)
class Vehicle:
    id: int
    start: int | None  # row in the matrices
    end: int | None
    start_location: tuple[float, float] | None
    start_location_index: int | None
    end_location: tuple[float, float] | None
    end_location_index: int | None
    profile: str
    capacity: tuple[int, ...]
    skills: frozenset
    time_window: Window
    breaks: tuple[Break, ...]
    max_tasks: int | None = None
    description: str = ""


@dataclass(frozen=True)
class Matrices:
    durations: np.ndarray  # int64 seconds
    costs: np.ndarray  # int64; travel durations unless `costs` were given
    distances: np.ndarray | None  # float64 metres; None when no distances are known


@dataclass(frozen=True)
class Problem:
    jobs: tuple[Job, ...]
    vehicles: tuple[Vehicle, ...]
    matrices: dict[str, Matrices]
    matrix_source: str
    amount_size: int

    def matrices_for(self, vehicle: Vehicle) -> Matrices:
        return self.matrices[vehicle.profile]

    @property
    def uses_breaks(self) -> bool:
        return any(v.breaks for v in self.vehicles)

    @property
    def uses_skills(self) -> bool:
        return any(j.skills for j in self.jobs)


def problem_parse(data: object) -> Problem:
    """Validate `data` (parsed JSON) and build the model; raise ProblemError naming the field."""
    if not isinstance(data, dict):
        raise ProblemError("the problem must be a JSON object", "problem")
    for key in UNSUPPORTED_TOP:
        if key in data:
            raise ProblemError("not supported by this optimiser", key)
    raw_matrices = data.get("matrices")
    matrices = _matrices_parse(raw_matrices) if raw_matrices is not None else None
    size = next(iter(matrices.values())).durations.shape[0] if matrices else None
    locations = _Locations(size)

    raw_jobs = _list(data.get("jobs"), "jobs", required=True)
    if not raw_jobs:
        raise ProblemError("at least one job is required", "jobs")
    raw_vehicles = _list(data.get("vehicles"), "vehicles", required=True)
    if not raw_vehicles:
        raise ProblemError("at least one vehicle is required", "vehicles")

    vehicles = tuple(_vehicle_parse(v, f"vehicles[{i}]", locations)
                     for i, v in enumerate(raw_vehicles))
    jobs = tuple(_job_parse(j, f"jobs[{i}]", locations) for i, j in enumerate(raw_jobs))
    _unique([j.id for j in jobs], "jobs", "id")
    _unique([v.id for v in vehicles], "vehicles", "id")
    amount_size = _amounts_check(jobs, vehicles)

    if matrices is None:
        fallback = _great_circle(locations.coordinates)
        matrices = dict.fromkeys({v.profile for v in vehicles}, fallback)
        source = MATRIX_GREAT_CIRCLE
    else:
        source = MATRIX_PROVIDED
        for i, vehicle in enumerate(vehicles):
            if vehicle.profile not in matrices:
                raise ProblemError(f"no matrices for profile {vehicle.profile!r}",
                                   f"vehicles[{i}].profile")
    return Problem(jobs=jobs, vehicles=vehicles, matrices=matrices, matrix_source=source,
                   amount_size=amount_size)


class _Locations:
    """Maps locations to matrix rows: given indices with matrices, deduplicated coordinates
    without."""

    def __init__(self, size: int | None):
        self.size = size
        self.coordinates: list[tuple[float, float]] = []
        self._rows: dict[tuple[float, float], int] = {}

    def parse(self, obj: dict, path: str, key: str, index_key: str, *, required: bool
              ) -> tuple[int | None, tuple[float, float] | None, int | None]:
        """Return (row, coordinates as given, index as given)."""
        coords = _coordinates(obj[key], f"{path}.{key}") if obj.get(key) is not None else None
        index = None
        if obj.get(index_key) is not None:
            index = _int(obj[index_key], f"{path}.{index_key}")
        if self.size is not None:
            if index is None:
                if coords is None and not required:
                    return None, None, None
                raise ProblemError("required when matrices are given", f"{path}.{index_key}")
            if index >= self.size:
                raise ProblemError(f"unknown location index {index}: the matrices have "
                                   f"{self.size} rows", f"{path}.{index_key}")
            return index, coords, index
        if index is not None:
            raise ProblemError("needs `matrices`; without them give `location` as [lon, lat]",
                               f"{path}.{index_key}")
        if coords is None:
            if required:
                raise ProblemError("required: [lon, lat] or a location_index into matrices",
                                   f"{path}.{key}")
            return None, None, None
        lon, lat = coords
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ProblemError("must be [lon, lat] in degrees", f"{path}.{key}")
        row = self._rows.get(coords)
        if row is None:
            row = self._rows[coords] = len(self.coordinates)
            self.coordinates.append(coords)
        return row, coords, None


def _job_parse(raw: object, path: str, locations: _Locations) -> Job:
    if not isinstance(raw, dict):
        raise ProblemError("must be an object", path)
    for key in UNSUPPORTED_JOB:
        if key in raw:
            raise ProblemError("not supported by this optimiser", f"{path}.{key}")
    job_id = _int(_required(raw, "id", path), f"{path}.id", maximum=2**63 - 1)
    row, coords, index = locations.parse(raw, path, "location", "location_index", required=True)
    delivery_key = "delivery" if "delivery" in raw else "amount"  # `amount`: VROOM's old name
    return Job(
        id=job_id,
        index=row,
        location=coords,
        location_index=index,
        service=_int(raw.get("service", 0), f"{path}.service"),
        delivery=_amount(raw.get(delivery_key), f"{path}.{delivery_key}"),
        pickup=_amount(raw.get("pickup"), f"{path}.pickup"),
        skills=_skills(raw.get("skills"), f"{path}.skills"),
        priority=_int(raw.get("priority", 0), f"{path}.priority", maximum=100),
        time_windows=_windows(raw.get("time_windows"), f"{path}.time_windows"),
        description=_text(raw.get("description"), f"{path}.description"),
    )


def _vehicle_parse(raw: object, path: str, locations: _Locations) -> Vehicle:
    if not isinstance(raw, dict):
        raise ProblemError("must be an object", path)
    for key in UNSUPPORTED_VEHICLE:
        if key in raw:
            raise ProblemError("not supported by this optimiser", f"{path}.{key}")
    vehicle_id = _int(_required(raw, "id", path), f"{path}.id", maximum=2**63 - 1)
    start, start_coords, start_index = locations.parse(raw, path, "start", "start_index",
                                                       required=False)
    end, end_coords, end_index = locations.parse(raw, path, "end", "end_index", required=False)
    if start is None and end is None:
        raise ProblemError("a vehicle needs a start or an end (location or index)",
                           f"{path}.start")
    profile = raw.get("profile", DEFAULT_PROFILE)
    if not isinstance(profile, str) or not profile:
        raise ProblemError("must be a non-empty string", f"{path}.profile")
    time_window = FULL_WINDOW
    if raw.get("time_window") is not None:
        time_window = _window(raw["time_window"], f"{path}.time_window")
    raw_breaks = _list(raw.get("breaks"), f"{path}.breaks")
    breaks = tuple(_break_parse(b, f"{path}.breaks[{i}]") for i, b in enumerate(raw_breaks))
    _unique([b.id for b in breaks], f"{path}.breaks", "id")
    max_tasks = None
    if raw.get("max_tasks") is not None:
        max_tasks = _int(raw["max_tasks"], f"{path}.max_tasks")
    return Vehicle(
        id=vehicle_id,
        start=start,
        end=end,
        start_location=start_coords,
        start_location_index=start_index,
        end_location=end_coords,
        end_location_index=end_index,
        profile=profile,
        capacity=_amount(raw.get("capacity"), f"{path}.capacity"),
        skills=_skills(raw.get("skills"), f"{path}.skills"),
        time_window=time_window,
        breaks=breaks,
        max_tasks=max_tasks,
        description=_text(raw.get("description"), f"{path}.description"),
    )


def _break_parse(raw: object, path: str) -> Break:
    if not isinstance(raw, dict):
        raise ProblemError("must be an object", path)
    return Break(
        id=_int(_required(raw, "id", path), f"{path}.id", maximum=2**63 - 1),
        time_windows=_windows(raw.get("time_windows"), f"{path}.time_windows"),
        service=_int(raw.get("service", 0), f"{path}.service"),
        description=_text(raw.get("description"), f"{path}.description"),
    )


def _matrices_parse(raw: object) -> dict[str, Matrices]:
    if not isinstance(raw, dict) or not raw:
        raise ProblemError("must be an object mapping profiles to matrices", "matrices")
    parsed: dict[str, Matrices] = {}
    size = None
    for profile, entry in raw.items():
        path = f"matrices.{profile}"
        if not isinstance(entry, dict):
            raise ProblemError("must be an object with `durations`", path)
        durations = _matrix(_required(entry, "durations", path), f"{path}.durations")
        size = durations.shape[0] if size is None else size
        if durations.shape[0] != size:
            raise ProblemError(f"has {durations.shape[0]} rows where other profiles have {size}",
                               f"{path}.durations")
        distances = costs = None
        if entry.get("distances") is not None:
            distances = _matrix(entry["distances"], f"{path}.distances", size=size)
        if entry.get("costs") is not None:
            costs = _matrix(entry["costs"], f"{path}.costs", size=size)
        rounded = np.rint(durations).astype(np.int64)
        parsed[profile] = Matrices(
            durations=rounded,
            costs=np.rint(costs).astype(np.int64) if costs is not None else rounded,
            distances=distances,
        )
    return parsed


def _matrix(raw: object, path: str, *, size: int | None = None) -> np.ndarray:
    if not isinstance(raw, list) or not raw or not all(isinstance(r, list) for r in raw):
        raise ProblemError("must be a square list of lists of numbers", path)
    if any(isinstance(x, bool) for row in raw for x in row):
        raise ProblemError("must hold numbers", path)
    try:
        matrix = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise ProblemError("must be a square list of lists of numbers", path) from None
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ProblemError("must be square", path)
    if size is not None and matrix.shape[0] != size:
        raise ProblemError(f"must have {size} rows like `durations`", path)
    if not np.isfinite(matrix).all() or (matrix < 0).any() or (matrix > MAX_UINT32).any():
        raise ProblemError(f"must hold numbers between 0 and {MAX_UINT32}", path)
    return matrix


def _great_circle(coordinates: list[tuple[float, float]]) -> Matrices:
    """Haversine distance × detour factor; durations at the fallback speed, whole seconds."""
    if not coordinates:
        empty = np.zeros((0, 0), dtype=np.int64)
        return Matrices(durations=empty, costs=empty, distances=np.zeros((0, 0)))
    points = np.radians(np.asarray(coordinates, dtype=np.float64))
    lon, lat = points[:, 0], points[:, 1]
    dlat = lat[:, None] - lat[None, :]
    dlon = lon[:, None] - lon[None, :]
    h = np.sin(dlat / 2) ** 2 + np.cos(lat)[:, None] * np.cos(lat)[None, :] * np.sin(dlon / 2) ** 2
    metres = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0, 1))) * DETOUR_FACTOR
    durations = np.rint(metres / FALLBACK_SPEED_M_S).astype(np.int64)
    return Matrices(durations=durations, costs=durations, distances=metres)


def _amounts_check(jobs: tuple[Job, ...], vehicles: tuple[Vehicle, ...]) -> int:
    """All amounts and capacities have one length (VROOM's rule); return it."""
    sizes = [len(v.capacity) for v in vehicles]
    sizes += [len(a) for j in jobs for a in (j.delivery, j.pickup) if a]
    size = max(sizes, default=0)
    for i, vehicle in enumerate(vehicles):
        if len(vehicle.capacity) != size:
            raise ProblemError(f"must list {size} amount(s), like the jobs' amounts",
                               f"vehicles[{i}].capacity")
    for i, job in enumerate(jobs):
        for key in ("delivery", "pickup"):
            amount = getattr(job, key)
            if amount and len(amount) != size:
                raise ProblemError(f"must list {size} amount(s), like the vehicles' capacity",
                                   f"jobs[{i}].{key}")
    return size


def _required(obj: dict, key: str, path: str):
    if obj.get(key) is None:
        raise ProblemError("required", f"{path}.{key}")
    return obj[key]


def _list(value: object, path: str, *, required: bool = False) -> list:
    if value is None:
        if required:
            raise ProblemError("required", path)
        return []
    if not isinstance(value, list):
        raise ProblemError("must be a list", path)
    return value


def _int(value: object, path: str, *, maximum: int = MAX_UINT32) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProblemError("must be an integer", path)
    if value < 0:
        raise ProblemError("must not be negative", path)
    if value > maximum:
        raise ProblemError(f"must be at most {maximum}", path)
    return value


def _amount(value: object, path: str) -> tuple[int, ...]:
    return tuple(_int(x, f"{path}[{i}]") for i, x in enumerate(_list(value, path)))


def _skills(value: object, path: str) -> frozenset:
    skills = set()
    for i, skill in enumerate(_list(value, path)):
        if isinstance(skill, str) and skill:
            skills.add(skill)
        else:
            skills.add(_int(skill, f"{path}[{i}]"))
    return frozenset(skills)


def _window(value: object, path: str) -> Window:
    if not isinstance(value, list) or len(value) != 2:
        raise ProblemError("must be [start, end]", path)
    start, end = _int(value[0], f"{path}[0]"), _int(value[1], f"{path}[1]")
    if end < start:
        raise ProblemError(f"ends ({end}) before it starts ({start})", path)
    return Window(start, end)


def _windows(value: object, path: str) -> tuple[Window, ...]:
    windows = [_window(w, f"{path}[{i}]") for i, w in enumerate(_list(value, path))]
    if not windows:
        return (FULL_WINDOW,)
    return tuple(sorted(windows, key=lambda w: (w.start, w.end)))


def _coordinates(value: object, path: str) -> tuple[float, float]:
    if (not isinstance(value, list) or len(value) != 2
            or any(isinstance(x, bool) or not isinstance(x, int | float) for x in value)
            or not all(math.isfinite(x) for x in value)):
        raise ProblemError("must be [lon, lat]", path)
    return float(value[0]), float(value[1])


def _text(value: object, path: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ProblemError("must be a string", path)
    return value


def _unique(ids: list[int], path: str, key: str) -> None:
    seen: set[int] = set()
    for i, value in enumerate(ids):
        if value in seen:
            raise ProblemError(f"duplicate id {value}", f"{path}[{i}].{key}")
        seen.add(value)
