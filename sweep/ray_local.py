"""Start an embedded loopback Ray, or join an existing cluster, for a sweep.

Local by default: every process binds 127.0.0.1 and no dashboard starts, so a sweep
on a laptop or CI box opens nothing to the network. `--address HOST:PORT` (or
`ray://HOST:PORT`, or `auto`) joins a running cluster; Ray 2.60 clusters use token
authentication, so joining runs with RAY_AUTH_MODE=token unless the user set it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator

from tunescale.contract.errors import InputError, first_line

_ADDRESS = re.compile(r"^(ray://)?[A-Za-z0-9.\-]+:\d{1,5}$")


def check_address(address: str) -> str:
    """Return `address` if it looks like HOST:PORT, ray://HOST:PORT or 'auto'; else InputError."""
    if address == "auto" or _ADDRESS.match(address):
        return address
    raise InputError(
        f"--address {address!r}: expected HOST:PORT (e.g. 127.0.0.1:6379), ray://HOST:PORT or 'auto'."
    )


@contextlib.contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None,
                verbose: bool = False) -> Iterator[dict]:
    """Connect to Ray for the block; shut down only what this call started.

    An already initialised Ray (a test session, a notebook) is reused as it is.
    Yields the cluster's resources. Unless `verbose`, Ray keeps its workers' output and
    its notice that a new local cluster uses token authentication off the terminal.
    """
    import ray

    logging.getLogger("ray._private.authentication").setLevel(logging.NOTSET if verbose else logging.ERROR)

    if ray.is_initialized():
        yield ray.cluster_resources()
        return
    if address is None:
        ray.init(
            _node_ip_address="127.0.0.1",
            include_dashboard=False,
            num_cpus=num_cpus,
            configure_logging=False,
            log_to_driver=verbose,
        )
    else:
        check_address(address)
        # Ray 2.60 heads issue a token (~/.ray/auth_token); joiners must say they use it.
        os.environ.setdefault("RAY_AUTH_MODE", "token")
        try:
            ray.init(address=address, log_to_driver=verbose)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            first = first_line(exc, type(exc).__name__)
            raise InputError(
                f"--address {address}: cannot join the Ray cluster ({first}); start one with "
                f"'ray start --head --node-ip-address=127.0.0.1' or drop --address to run locally."
            ) from None
    try:
        yield ray.cluster_resources()
    finally:
        ray.shutdown()
