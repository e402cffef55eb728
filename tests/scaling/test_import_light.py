"""scaling/ must install and run light: importing all of it never pulls in torch or ray."""

import subprocess
import sys

from tests.scaling.conftest import REPO

MODULES = [
    "tunescale.scaling",
    "tunescale.cli.fit_scaling",
    "tunescale.scaling.fit",
    "tunescale.scaling.plots",
    "tunescale.scaling.columns",
    "tunescale.scaling.optima",
    "tunescale.scaling.hp_laws",
    "tunescale.scaling.loss_law",
    "tunescale.scaling.validation",
    "tunescale.scaling.predict",
    "tunescale.scaling.published",
]


def test_scaling_imports_neither_torch_nor_ray():
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in MODULES)
        + "import tunescale.scaling.pyplot as p; p.pyplot()\n"
        + "bad = [m for m in ('torch', 'ray') if m in sys.modules]\n"
        + "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
