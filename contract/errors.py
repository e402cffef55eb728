"""The one exception root of tunescale.

Every error a user can cause (bad input file, bad spec, bad option) derives from
`TunescaleError`; the CLI prints its message as one line and exits 2. Messages say
what was expected, what was found, and the fix.
"""


# What `pip install tunescale` leaves out: searching, training and sweeping need the [all] extra.
EXTRA_MODULES = ("torch", "ray", "botorch", "gpytorch", "optuna")


class TunescaleError(Exception):
    """Root of every error tunescale raises on purpose."""


class SchemaError(TunescaleError):
    """A trial or curve row does not fit the trial-store schema."""


class InputError(TunescaleError):
    """A path, file or option given by the user cannot be used."""


class StoreError(TunescaleError):
    """The trial store cannot be written (or is in use by another driver); stored rows stay intact."""


def first_line(exc: BaseException | None, default: str = "") -> str:
    """The first line of an exception's message, or `default` when it has none: reasons
    stored in rows and errors printed by the CLI stay one line."""
    text = str(exc).strip() if exc is not None else ""
    return text.splitlines()[0] if text else default
