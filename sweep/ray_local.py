"""Start an embedded loopback Ray, or join an existing cluster, for a sweep.

Local by default, and local means loopback only. Ray turns a node address of 127.0.0.1
into the machine's external address (`ray._private.services.resolve_ip_for_localhost`),
so `_node_ip_address="127.0.0.1"` alone leaves gcs_server, raylet, the agents and every
worker listening on all interfaces. With RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 (Ray's
switch for single-machine Ray) every process is started with node address 127.0.0.1 and
binds its servers there; tests/sweep/test_ray_loopback.py lists the sockets to prove it.
A local sweep starts its own Ray (`address="local"`): it never follows RAY_ADDRESS or
/tmp/ray/ray_current_cluster. No dashboard starts.

`--address HOST:PORT` (or `ray://HOST:PORT`, or `auto`: RAY_ADDRESS or the cluster
`ray start` last started here) joins a running cluster; Ray 2.60 clusters use token
authentication, so joining runs with RAY_AUTH_MODE=token unless the user set it.

Starting is bounded (TUNESCALE_RAY_START_TIMEOUT seconds, default 120): a Ray whose
processes die while it starts otherwise blocks `ray.init` for many minutes, deaf to
Ctrl-C. On time-out, or when Ray gives up by itself, the driver says so in one line; the
processes Ray had started share the driver's fate and end with it. The bound waits in
another thread, so it cannot fire while `ray.init` blocks inside Ray's C++ holding the
GIL. That happens in one known case: by default the raylet answers the first driver only
once a worker it starts for it has registered, and a worker killed then leaves the driver
waiting forever. The local Ray therefore starts no worker before the driver registers
(`prestart_worker_first_driver` off): the first trial waits for its worker instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator

from tunescale.contract.errors import InputError, TunescaleError, first_line

_ADDRESS = re.compile(r"^(ray://)?[A-Za-z0-9.\-]+:\d{1,5}$")
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
START_TIMEOUT_ENV = "TUNESCALE_RAY_START_TIMEOUT"


class RayStartError(TunescaleError):
    """Ray did not come up (or not on loopback) in time."""


def check_address(address: str) -> str:
    """Return `address` if it looks like HOST:PORT, ray://HOST:PORT or 'auto'; else InputError."""
    if address == "auto" or _ADDRESS.match(address):
        return address
    raise InputError(
        f"--address {address!r}: expected HOST:PORT (e.g. 127.0.0.1:6379), ray://HOST:PORT or 'auto'."
    )


def start_timeout() -> float:
    raw = os.environ.get(START_TIMEOUT_ENV, "120")
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise InputError(f"{START_TIMEOUT_ENV}={raw!r}: expected a positive number of seconds.")
    return value


@contextlib.contextmanager
def _loopback_env() -> Iterator[None]:
    """Ray's single-machine mode for the processes `ray.init` starts, and no RAY_ADDRESS to follow."""
    from ray._private import ray_constants

    saved = {k: os.environ.get(k) for k in (*LOOPBACK_ENV, "RAY_ADDRESS")}
    enabled = getattr(ray_constants, "ENABLE_RAY_CLUSTER", None)
    os.environ.update(LOOPBACK_ENV)
    os.environ.pop("RAY_ADDRESS", None)
    # Read once when ray is imported; a driver that imported ray earlier needs it set here too
    # (start_local checks the outcome, so a Ray that renames it fails loudly, not openly).
    if enabled is not None:
        ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        if enabled is not None:
            ray_constants.ENABLE_RAY_CLUSTER = enabled
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _bounded(start: Callable[[], None], what: str) -> threading.Event:
    """Run `start()` in a helper thread, waiting at most `start_timeout()` seconds for it.

    The thread then waits on the returned event until Ray is shut down: Ray ties its
    processes' lives to the thread that started them (Linux's parent-death signal is
    per thread), so that thread must outlive the session.
    """
    timeout = start_timeout()
    failure: list[BaseException] = []
    started, release = threading.Event(), threading.Event()

    def run() -> None:
        try:
            start()
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)
        started.set()
        release.wait()

    # Ray warns that it cannot set a SIGTERM handler outside the main thread; the driver keeps its own.
    quiet = logging.getLogger("ray._private.worker")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        threading.Thread(target=run, name="ray-start", daemon=True).start()
        if not started.wait(timeout):
            raise RayStartError(
                f"{what} did not start within {timeout:g} s (a Ray process may have died while starting); "
                f"see /tmp/ray/session_latest/logs, or raise {START_TIMEOUT_ENV}."
            )
    finally:
        quiet.setLevel(level)
    if failure:
        release.set()
        raise failure[0]
    return release


def start_local(num_cpus: int | None = None, verbose: bool = False) -> threading.Event:
    """A fresh loopback-only Ray for this process (see the module doc); set the event after `ray.shutdown()`."""
    import ray

    def start() -> None:
        ray.init(address="local", include_dashboard=False, num_cpus=num_cpus,
                 configure_logging=False, log_to_driver=verbose,
                 _system_config={"prestart_worker_first_driver": False})

    with _loopback_env():
        try:
            release = _bounded(start, "the local Ray")
        except RayStartError:
            raise
        except Exception as exc:  # Ray gives up on a node whose raylet died (after 30 s) with a bare Exception
            raise RayStartError(
                f"the local Ray failed to start ({first_line(exc, type(exc).__name__)}); "
                f"see /tmp/ray/session_latest/logs."
            ) from None
    node_ip = ray.util.get_node_ip_address()
    if node_ip != "127.0.0.1":
        ray.shutdown()
        release.set()
        raise RayStartError(f"the local Ray started on {node_ip}, not on loopback; refusing to run on it.")
    return release


def join(address: str, verbose: bool = False) -> dict:
    """Connect to the cluster at `address`; return where it is (`auto` resolves to an address)."""
    import ray

    check_address(address)
    # Ray 2.60 heads issue a token (~/.ray/auth_token); joiners must say they use it.
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    context: list = []
    try:
        release = _bounded(lambda: context.append(ray.init(address=address, log_to_driver=verbose)),
                           f"the connection to the Ray cluster at {address}")
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = first_line(exc, type(exc).__name__)
        raise InputError(
            f"--address {address}: cannot join the Ray cluster ({first}); start one with "
            f"'ray start --head --node-ip-address=127.0.0.1' or drop --address to run locally."
        ) from None
    return {"address": getattr(context[0], "address_info", {}).get("gcs_address", address), "release": release}


@contextlib.contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None, verbose: bool = False,
                joined: list | None = None) -> Iterator[dict]:
    """Connect to Ray for the block; shut down only what this call started.

    An already initialised Ray (a test session, a notebook) is reused as it is.
    Yields the cluster's resources. `joined`, when given, receives the address of the
    cluster an `--address` run joined (for `--address auto`, the one Ray picked). Unless
    `verbose`, Ray keeps its workers' output and its notice that a new local cluster uses
    token authentication off the terminal.
    """
    import ray

    logging.getLogger("ray._private.authentication").setLevel(logging.NOTSET if verbose else logging.ERROR)

    if ray.is_initialized():
        yield ray.cluster_resources()
        return
    if address is None:
        release = start_local(num_cpus, verbose)
    else:
        where = join(address, verbose)
        release = where["release"]
        if joined is not None:
            joined.append(where["address"])
    try:
        yield ray.cluster_resources()
    finally:
        ray.shutdown()
        release.set()
