"""Shared helpers for scaling tests: run the CLI as a user does, through either entry point."""

import pytest

from tests.conftest import REPO, run_main
from tunescale.cli import fit_scaling
from tunescale.cli import main as tunescale

DATA = REPO / "tests" / "data"
SHARED_DATA = REPO.parent / "shared" / "data"  # CI checks out shared/ beside the clone

ENTRY_POINTS = {
    "fit-scaling": fit_scaling.main,
    "tunescale fit-scaling": lambda argv: tunescale.main(["fit-scaling", *argv]),
}


def run_cli(args, entry="fit-scaling"):
    return run_main(ENTRY_POINTS[entry], *args)


@pytest.fixture(params=list(ENTRY_POINTS))
def entry(request):
    return request.param
