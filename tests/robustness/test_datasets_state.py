"""A datasets folder (save_to_disk) reads only its own Arrow files: a state.json naming a file
elsewhere (``../``, an absolute path, a symlink out) is one DataError, never read."""
from __future__ import annotations

import json

import pytest

from hub_core.common.errors import DataError
from hub_core.common.table import iter_rows


@pytest.mark.parametrize("name", ["../outside.arrow", "/etc/passwd", "link.arrow"])
def test_state_json_naming_a_file_outside_the_folder_is_refused(tmp_path, name):
    folder = tmp_path / "ds"
    folder.mkdir()
    (tmp_path / "outside.arrow").write_bytes(b"not read")
    (folder / "link.arrow").symlink_to(tmp_path / "outside.arrow")
    (folder / "state.json").write_text(json.dumps({"_data_files": [{"filename": name}]}))
    (folder / "dataset_info.json").write_text("{}")
    with pytest.raises(DataError, match="outside the dataset folder") as caught:
        list(iter_rows(folder))
    assert "state.json" in str(caught.value) and "\n" not in str(caught.value)
