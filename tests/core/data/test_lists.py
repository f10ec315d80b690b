"""hashbench.data.lists: list-file parsing (real quirks), safe paths inside the root, the lists checksum."""
from __future__ import annotations

import pytest

from support import SPLITS
from hashbench.data.lists import entries_checksum, path_and_label, read_list, safe_relpath
from hashbench.errors import DataError


# -- sampling --------------------------------------------------------------------------------------


# -- list files ------------------------------------------------------------------------------------
def test_read_list_handles_crlf_trailing_spaces_bom_and_blank_lines(tmp_path):
    path = tmp_path / "list.txt"
    path.write_bytes(b"\xef\xbb\xbfa/x.avi 1\r\n\r\nb/#y@.avi 2 \nc/z.avi\r\n   \n")
    lines = read_list(path)
    assert [ln.fields for ln in lines] == [("a/x.avi", "1"), ("b/#y@.avi", "2"), ("c/z.avi",)]
    assert [ln.lineno for ln in lines] == [1, 3, 4]
    assert path_and_label(lines[1], label_required=True) == ("b/#y@.avi", 2)
    assert path_and_label(lines[2], label_required=False) == ("c/z.avi", None)
    with pytest.raises(DataError, match=r"list.txt:4: expected `<path> <integer label>`"):
        path_and_label(lines[2], label_required=True)


def test_real_list_quirks_parse(tmp_path):
    ucf = read_list(SPLITS / "ucf101" / "trainlist01.txt")  # CRLF
    assert len(ucf) == 9537 and ucf[0].fields == ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", "1")
    hmdb = read_list(SPLITS / "hmdb51" / "golf_test_split1.txt")  # trailing space, '#' in names
    assert len(hmdb) > 100 and all(len(ln.fields) == 2 for ln in hmdb)
    assert any("#" in ln.fields[0] for ln in hmdb)


def test_missing_list_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="nope.txt: list file not found"):
        read_list(tmp_path / "nope.txt")


def test_safe_relpath_keeps_paths_inside_the_root(tmp_path):
    root = tmp_path / "root"
    assert safe_relpath(root, "A/b.avi") == "A/b.avi"
    assert safe_relpath(root, "A\\b.avi") == "A/b.avi"
    assert safe_relpath(root, "./A/../A/b.avi") == "A/b.avi"
    assert safe_relpath(root, str(root / "A" / "b.avi")) == "A/b.avi"
    for bad in ("../x.avi", "A/../../x.avi", "..", str(tmp_path / "other" / "x.avi"), str(root) + "2/x.avi"):
        with pytest.raises(DataError, match="root") as err:
            safe_relpath(root, bad, where="lists.txt:7")
        assert str(err.value).startswith("lists.txt:7: ")


def test_checksum_ignores_formatting_but_not_content():
    a = {"train": [("A/x.avi", 0), ("B/y.avi", 1)], "query": [("A/z.avi", 0)]}
    same = {"query": [("A/z.avi", 0)], "train": [("A/x.avi", 0), ("B/y.avi", 1)]}
    relabelled = {"train": [("A/x.avi", 0), ("B/y.avi", 0)], "query": [("A/z.avi", 0)]}
    assert entries_checksum(a) == entries_checksum(same)
    assert entries_checksum(a) != entries_checksum(relabelled)
    assert entries_checksum(a) != entries_checksum(a, extra=["seed=1"])
    assert len(entries_checksum(a)) == 64


# -- locating media --------------------------------------------------------------------------------
