"""scaling/ must install and run light: importing all of it never pulls in torch or ray."""

import subprocess
import sys

from tests.scaling.conftest import REPO

MODULES = ["scaling", "scaling.cli", "scaling.fit", "scaling.plots", "scaling.columns", "scaling.optima",
           "scaling.hp_laws", "scaling.loss_law", "scaling.validation", "scaling.predict", "scaling.published"]


def test_scaling_imports_neither_torch_nor_ray():
    code = ("import sys\n" + "".join(f"import {m}\n" for m in MODULES)
            + "import scaling.plots as p; p._plt()\n"
            + "bad = [m for m in ('torch', 'ray') if m in sys.modules]\n"
            + "assert not bad, bad\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
