"""Output files are written whole or not at all."""

import json

import pytest

from tunescale.contract.atomic import replacing
from tunescale.scaling.pyplot import pyplot, save_figure
from tunescale.study.jsondoc import write_json


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    path = tmp_path / "fit.json"
    write_json(path, {"loss": 2.5, "interval": [float("nan"), 3.0]})
    with pytest.raises(TypeError):
        write_json(path, {"loss": object()})  # fails while the new text is being made
    assert json.loads(path.read_text())["loss"] == 2.5
    with pytest.raises(KeyboardInterrupt), replacing(path) as tmp:
        tmp.write_text('{"lo')
        raise KeyboardInterrupt  # Ctrl-C halfway through a write
    assert json.loads(path.read_text())["loss"] == 2.5
    assert [p.name for p in tmp_path.iterdir()] == ["fit.json"]


def test_figures_keep_the_format_their_name_asks_for(tmp_path):
    fig, ax = pyplot().subplots()
    ax.plot([1, 2], [3, 4])
    save_figure(fig, [tmp_path / "a.png", tmp_path / "a.pdf"], dpi=50)
    assert (tmp_path / "a.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "a.pdf").read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pdf", "a.png"]
