"""A study's JSON files are written whole or not at all."""

import json

import pytest

from tunescale.study.jsondoc import write_json


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    path = tmp_path / "fit.json"
    write_json(path, {"loss": 2.5, "interval": [float("nan"), 3.0]})
    with pytest.raises(TypeError):
        write_json(path, {"loss": object()})  # fails while the new text is being made
    assert json.loads(path.read_text())["loss"] == 2.5
    assert [p.name for p in tmp_path.iterdir()] == ["fit.json"]
