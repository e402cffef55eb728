"""Search-space parameter types shared by every searcher in `search/`.

Glossary (names carry the space a value lives in):
- *param space*: the value the trainer sees (``lr = 3e-4``, ``batch_size = 64``).
- *basic space*: where every model (GP, Pareto set, search radius) works. A value is
  mapped by the parameter's transform (identity, log or logit) and divided by its
  ``scale``, so a step of 1.0 in basic space is "one typical change" of that parameter
  and one search radius means the same thing in every dimension.

`LinearParam`, `LogParam` and `LogitParam` each own their transform both ways;
`ChoiceParam` is one of a tuple of values (a grid's points, a categorical), stored by its
index, which CARBS treats as unordered (one-hot in its GPs); `OrderedParam` is one of
increasing numbers (widths, batch sizes: `OrderedParam.powers_of_two`), searched along
their own log or linear axis; `FixedParam` holds a constant that is passed through to every configuration.
Bounds are optional (unbounded searches are the point of CARBS); integer parameters
round to multiples of ``rounding_factor`` in param space.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from tunescale.contract.errors import InputError

# A bounded linear range spans this many basic units: with the default search radius 0.3
# a typical step then covers ~1/13 of the range, local enough to follow a Pareto front.
RANGE_IN_BASIC = 4.0
# One basic unit of a log parameter: a decade. Scaling log ranges by RANGE_IN_BASIC
# instead made a radius-0.3 step of a width searched over 16..128 a factor of 1.17, so
# CARBS needed ~10 trials to climb the cost axis (benchmarks/carbs_proxy_bench.py).
DECADE_IN_BASIC = math.log(10)


@dataclass(frozen=True)
class _RealParam:
    """A real-valued (optionally integer-rounded) searched parameter."""

    name: str
    search_center: float
    scale: float = 1.0
    min: float | None = None
    max: float | None = None
    is_integer: bool = False
    rounding_factor: int = 1

    kind: ClassVar[str] = "real"

    def __post_init__(self) -> None:
        if not self.scale > 0:
            raise InputError(f"parameter '{self.name}': scale = {self.scale!r}, expected > 0.")
        if self.rounding_factor < 1:
            raise InputError(
                f"parameter '{self.name}': rounding_factor = {self.rounding_factor!r}, expected an integer >= 1."
            )
        lo, hi = self.min, self.max
        if lo is not None and hi is not None and not lo < hi:
            raise InputError(f"parameter '{self.name}': min = {lo!r} must be < max = {hi!r}.")
        self._check_domain(self.search_center, "search_center")
        for label, bound in (("min", lo), ("max", hi)):
            if bound is not None:
                self._check_domain(bound, label)
        if (lo is not None and self.search_center < lo) or (hi is not None and self.search_center > hi):
            raise InputError(
                f"parameter '{self.name}': search_center = {self.search_center!r} lies outside "
                f"[{lo}, {hi}]; move the centre inside the bounds."
            )

    # -- transforms owned by each subclass ------------------------------------------------
    def _forward(self, value_in_param: float) -> float:
        raise TypeError(f"{type(self).__name__} does not define a transform")

    def _inverse(self, value_in_transformed: float) -> float:
        raise TypeError(f"{type(self).__name__} does not define a transform")

    def _check_domain(self, value: float, label: str) -> None:
        if not math.isfinite(value):
            raise InputError(f"parameter '{self.name}': {label} = {value!r}, expected a finite number.")

    # -- public API -----------------------------------------------------------------------
    def to_basic(self, value_in_param: float) -> float:
        """Map a param-space value into basic space."""
        return self._forward(float(value_in_param)) / self.scale

    def from_basic(self, value_in_basic: float) -> float | int:
        """Map a basic-space value back to param space, clipped to bounds and rounded."""
        value_in_param = self._inverse(float(value_in_basic) * self.scale)
        return self.round(self.clip(value_in_param))

    def clip(self, value_in_param: float) -> float:
        if self.min is not None:
            value_in_param = max(value_in_param, self.min)
        if self.max is not None:
            value_in_param = min(value_in_param, self.max)
        return value_in_param

    def round(self, value_in_param: float) -> float | int:
        """Round an integer parameter to the nearest allowed multiple inside the bounds."""
        if not self.is_integer:
            return float(value_in_param)
        step = self.rounding_factor
        rounded = int(round(value_in_param / step)) * step
        if self.min is not None and rounded < self.min:
            rounded += step
        if self.max is not None and rounded > self.max:
            rounded -= step
        return int(rounded)

    @property
    def bounds_in_basic(self) -> tuple[float, float]:
        lo = -math.inf if self.min is None else self.to_basic(self.min)
        hi = math.inf if self.max is None else self.to_basic(self.max)
        return lo, hi

    def integer_gap_in_basic(self, value_in_basic: float) -> float:
        """Basic-space distance from a value to the farther of its neighbouring allowed
        integer values (0.0 for a real parameter): the smallest move that changes it."""
        if not self.is_integer:
            return 0.0
        here = self.from_basic(value_in_basic)
        neighbours = [n for n in (here - self.rounding_factor, here + self.rounding_factor)
                      if (self.min is None or n >= self.min) and (self.max is None or n <= self.max)
                      and self._in_domain(n)]
        return max((abs(self.to_basic(n) - self.to_basic(here)) for n in neighbours), default=0.0)

    def _in_domain(self, value_in_param: float) -> bool:
        try:
            self._check_domain(value_in_param, "value")
        except InputError:
            return False
        return True

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, **asdict(self)}


@dataclass(frozen=True)
class LinearParam(_RealParam):
    """basic = value / scale. For quantities whose natural steps are additive."""

    kind: ClassVar[str] = "linear"

    def _forward(self, value_in_param: float) -> float:
        return value_in_param

    def _inverse(self, value_in_transformed: float) -> float:
        return value_in_transformed


@dataclass(frozen=True)
class LogParam(_RealParam):
    """basic = ln(value) / scale. For positive quantities that scale multiplicatively (lr, N, D)."""

    kind: ClassVar[str] = "log"

    def _check_domain(self, value: float, label: str) -> None:
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"parameter '{self.name}': {label} = {value!r}, a log parameter needs > 0.")

    def _forward(self, value_in_param: float) -> float:
        return math.log(value_in_param)

    def _inverse(self, value_in_transformed: float) -> float:
        return math.exp(value_in_transformed)


@dataclass(frozen=True)
class LogitParam(_RealParam):
    """basic = logit(value) / scale. For fractions in (0, 1) (dropout, 1 - beta2)."""

    kind: ClassVar[str] = "logit"

    def _check_domain(self, value: float, label: str) -> None:
        if not (math.isfinite(value) and 0 < value < 1):
            raise InputError(f"parameter '{self.name}': {label} = {value!r}, a logit parameter needs 0 < value < 1.")

    def _forward(self, value_in_param: float) -> float:
        return math.log(value_in_param) - math.log1p(-value_in_param)

    def _inverse(self, value_in_transformed: float) -> float:
        # Split by sign so exp() never overflows for far-out basic values.
        if value_in_transformed >= 0:
            return 1.0 / (1.0 + math.exp(-value_in_transformed))
        e = math.exp(value_in_transformed)
        return e / (1.0 + e)


@dataclass(frozen=True)
class FixedParam:
    """A constant carried into every configuration but never searched."""

    name: str
    value: Any

    kind: ClassVar[str] = "fixed"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "name": self.name, "value": self.value}


@dataclass(frozen=True)
class ChoiceParam:
    """One of `values`: basic = the value's index. Grid and random search walk or draw the
    indices (the basic bounds reach half a step past the ends, so a uniform draw picks
    every value equally often); CARBS treats the values as unordered categories (one-hot
    in its GPs, switched at random in its candidates), so their order means nothing there:
    give numbers whose order matters as an `OrderedParam`."""

    name: str
    values: tuple

    kind: ClassVar[str] = "choice"
    scale: ClassVar[float] = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(self.values))
        if not self.values:
            raise InputError(f"parameter '{self.name}': a choice needs at least one value, got none.")

    @property
    def search_center(self) -> Any:
        return self.values[(len(self.values) - 1) // 2]

    def to_basic(self, value_in_param: Any) -> float:
        try:
            return float(self.values.index(value_in_param))
        except ValueError:
            raise InputError(
                f"parameter '{self.name}': {value_in_param!r} is not one of its values {list(self.values)}."
            ) from None

    def from_basic(self, value_in_basic: float) -> Any:
        return self.values[min(max(round(float(value_in_basic)), 0), len(self.values) - 1)]

    def round(self, value_in_param: Any) -> Any:
        return value_in_param

    @property
    def bounds_in_basic(self) -> tuple[float, float]:
        return -0.5, len(self.values) - 0.5

    def integer_gap_in_basic(self, value_in_basic: float) -> float:
        """One index: the smallest move that surely changes the value (0.0 for one value)."""
        return 1.0 if len(self.values) > 1 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "name": self.name, "values": list(self.values)}


@dataclass(frozen=True)
class OrderedParam:
    """One of increasing numbers `values`, snapped to the nearest in basic space.

    basic = transform(value) / scale, with the scale chosen from the values so a search
    radius means what it does for a range: ``log`` (default: every value > 0) is one basic
    unit per decade (`DECADE_IN_BASIC`), so powers of two sit 0.30 apart, one default
    radius; linear spreads the values over `RANGE_IN_BASIC` units. The basic bounds reach
    half a gap past the end values, so a uniform draw picks the ends about as often as
    their neighbours. `search_center` (default: the middle value) snaps to a value.
    """

    name: str
    values: tuple
    search_center: float | None = None
    log: bool | None = None

    kind: ClassVar[str] = "ordered"

    def __post_init__(self) -> None:
        values = tuple(self.values)
        if len(values) < 2 or any(isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)
                                  for v in values) or any(b <= a for a, b in zip(values[:-1], values[1:], strict=True)):
            raise InputError(f"parameter '{self.name}': an ordered parameter needs >= 2 increasing finite numbers, "
                             f"got {list(values)}.")
        log = all(v > 0 for v in values) if self.log is None else bool(self.log)
        if log and values[0] <= 0:
            raise InputError(f"parameter '{self.name}': log = true needs values > 0, got {list(values)}.")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "log", log)
        centre = values[(len(values) - 1) // 2] if self.search_center is None else self.search_center
        object.__setattr__(self, "search_center", self.round(centre))

    @property
    def scale(self) -> float:
        if self.log:
            return DECADE_IN_BASIC
        return (self.values[-1] - self.values[0]) / RANGE_IN_BASIC

    def _transform(self, value_in_param: float) -> float:
        return math.log(value_in_param) if self.log else float(value_in_param)

    def _axis_in_basic(self) -> list[float]:
        return [self._transform(v) / self.scale for v in self.values]

    def to_basic(self, value_in_param: float) -> float:
        value = float(value_in_param)
        if not math.isfinite(value) or (self.log and value <= 0):
            raise InputError(f"parameter '{self.name}': {value_in_param!r} is not a value of {list(self.values)}.")
        return self._transform(value) / self.scale

    def from_basic(self, value_in_basic: float) -> float | int:
        axis = self._axis_in_basic()
        return self.values[min(range(len(axis)), key=lambda i: abs(axis[i] - float(value_in_basic)))]

    def round(self, value_in_param: float) -> float | int:
        return self.from_basic(self.to_basic(value_in_param))

    @property
    def bounds_in_basic(self) -> tuple[float, float]:
        axis = self._axis_in_basic()
        return axis[0] - (axis[1] - axis[0]) / 2, axis[-1] + (axis[-1] - axis[-2]) / 2

    def integer_gap_in_basic(self, value_in_basic: float) -> float:
        """Basic distance from the value to its farther neighbour: the smallest move that changes it."""
        axis = self._axis_in_basic()
        i = self.values.index(self.from_basic(value_in_basic))
        return max(abs(axis[j] - axis[i]) for j in (i - 1, i + 1) if 0 <= j < len(axis))

    @classmethod
    def powers_of_two(cls, name: str, low: int, high: int, search_center: int | None = None) -> OrderedParam:
        """Every power of two in [low, high] (widths, batch sizes)."""
        values = tuple(2**k for k in range(max(0, math.ceil(math.log2(low))), math.floor(math.log2(high)) + 1))
        return cls(name, values, search_center)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, **asdict(self), "values": list(self.values)}


Param = LinearParam | LogParam | LogitParam | ChoiceParam | OrderedParam | FixedParam
_TYPES = {cls.kind: cls for cls in (LinearParam, LogParam, LogitParam, ChoiceParam, OrderedParam, FixedParam)}


def param_from_dict(data: Mapping[str, Any]) -> Param:
    """Inverse of ``Param.to_dict()`` (the JSON form used by save/load)."""
    data = dict(data)
    kind = data.pop("type", None)
    if kind not in _TYPES:
        raise InputError(f"parameter spec {data!r}: type {kind!r} is not one of {', '.join(_TYPES)}.")
    return _TYPES[kind](**data)


class Space:
    """An ordered set of parameters; converts whole configurations to and from basic vectors."""

    def __init__(self, params: Sequence[Param]) -> None:
        names = [p.name for p in params]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise InputError(f"search space: parameter name(s) {dupes} appear more than once.")
        self.params = tuple(params)
        self.searched = tuple(p for p in params if not isinstance(p, FixedParam))
        self.fixed = tuple(p for p in params if isinstance(p, FixedParam))
        if not self.searched:
            raise InputError("search space: no searched parameter; add at least one Linear/Log/Logit/ChoiceParam.")

    @property
    def dim(self) -> int:
        return len(self.searched)

    @property
    def categories(self) -> tuple[tuple[int, int], ...]:
        """(index among the searched parameters, number of values) of each unordered choice."""
        return tuple((i, len(p.values)) for i, p in enumerate(self.searched) if isinstance(p, ChoiceParam))

    def to_basic(self, config_in_param: Mapping[str, Any]) -> list[float]:
        missing = [p.name for p in self.searched if p.name not in config_in_param]
        if missing:
            raise InputError(f"configuration {dict(config_in_param)!r} lacks searched parameter(s) {missing}.")
        return [p.to_basic(config_in_param[p.name]) for p in self.searched]

    def from_basic(self, vector_in_basic: Sequence[float]) -> dict[str, Any]:
        config: dict[str, Any] = {
            p.name: p.from_basic(v) for p, v in zip(self.searched, vector_in_basic, strict=True)
        }
        config.update({p.name: p.value for p in self.fixed})
        return config

    def round_in_basic(self, vector_in_basic: Sequence[float]) -> list[float]:
        """Snap a basic vector to the nearest representable (clipped, rounded) configuration."""
        return self.to_basic(self.from_basic(vector_in_basic))

    @property
    def search_center_in_basic(self) -> list[float]:
        return [p.to_basic(p.round(p.search_center)) for p in self.searched]

    @property
    def bounds_in_basic(self) -> list[tuple[float, float]]:
        return [p.bounds_in_basic for p in self.searched]

    def integer_gaps_in_basic(self, vector_in_basic: Sequence[float]) -> list[float]:
        """Per searched parameter, the smallest basic-space move that changes its value
        (0.0 for real parameters); see `_RealParam.integer_gap_in_basic`."""
        return [p.integer_gap_in_basic(v) for p, v in zip(self.searched, vector_in_basic, strict=True)]

    def to_dict(self) -> list[dict[str, Any]]:
        return [p.to_dict() for p in self.params]

    @classmethod
    def from_dict(cls, data: Sequence[Mapping[str, Any]]) -> Space:
        return cls([param_from_dict(d) for d in data])
