"""The shipped SSVH published rows (hashbench/results/published_ssvh.csv): they load through the same API as
the supervised ones, each names its source and revision, the numbers are the ones the repositories publish
(the SSVH reference notes, section 6: each README and results file at the revision its url names) and exactly the test-selected papers (S5VH, AutoSSVH) are flagged."""
from __future__ import annotations

import pytest

from hashbench.results.published import SHIPPED_FILES, TEST_SELECTED, is_test_selected, published_rows

SSVH_METHODS = {"BTH", "ConMH", "S5VH", "AutoSSVH"}
#: (method, dataset, bits) -> {K: value}, from the reference's section 6 table and its "further values"
REFERENCE = {
    ("BTH", "fcvid", 64): {5: 0.473, 10: 0.375, 20: 0.310, 40: 0.262, 60: 0.237, 80: 0.219, 100: 0.204},
    ("ConMH", "fcvid", 64): {5: 0.524, 20: 0.373, 100: 0.267},
    ("ConMH", "fcvid", 32): {5: 0.476},
    ("ConMH", "fcvid", 16): {5: 0.350},
    ("ConMH", "activitynet", 64): {5: 0.267, 20: 0.150, 100: 0.042},
    ("ConMH", "yfcc", 64): {5: 0.368, 20: 0.194, 100: 0.130},
    ("S5VH", "fcvid", 64): {5: 0.520, 20: 0.369, 100: 0.269},
    ("S5VH", "fcvid", 16): {5: 0.346},
    ("S5VH", "fcvid", 32): {5: 0.482},
    ("S5VH", "ucf101", 16): {5: 0.471},
    ("S5VH", "ucf101", 32): {5: 0.534},
    ("S5VH", "ucf101", 64): {5: 0.578, 20: 0.507, 100: 0.338},
    ("S5VH", "hmdb51", 64): {5: 0.256, 20: 0.189, 100: 0.088},
    ("S5VH", "activitynet", 64): {5: 0.266, 20: 0.152, 100: 0.043},
    ("AutoSSVH", "fcvid", 64): {5: 0.539, 20: 0.381, 100: 0.273},
    ("AutoSSVH", "ucf101", 64): {5: 0.570, 20: 0.500, 100: 0.329},
    ("AutoSSVH", "hmdb51", 64): {5: 0.256, 20: 0.175, 100: 0.076},
    ("AutoSSVH", "activitynet", 64): {5: 0.290, 20: 0.164, 100: 0.045},
}


@pytest.fixture(scope="module")
def ssvh():
    rows = published_rows()
    return rows[rows["method"].isin(SSVH_METHODS)]


def test_the_ssvh_rows_ship_beside_the_supervised_ones(ssvh):
    assert "published_ssvh.csv" in SHIPPED_FILES
    rows = published_rows()
    assert {"Video-Retrieval-C3D", "CSQ"} <= set(rows["method"])  # the supervised rows are still there
    assert set(ssvh["method"]) == SSVH_METHODS
    assert set(ssvh["dataset"]) == {"fcvid", "activitynet", "yfcc", "ucf101", "hmdb51"}
    assert ssvh["metric"].str.fullmatch(r"map_over_k@(5|10|20|40|60|80|100)").all()
    assert ((ssvh["value"] > 0) & (ssvh["value"] < 1)).all()
    assert ssvh["bits"].isin([16, 32, 64]).all()


def test_every_row_names_its_source_and_revision(ssvh):
    assert (ssvh["source"].str.len() > 0).all()
    assert ssvh["url"].str.fullmatch(r"https://github\.com/\S+ \(commit [0-9a-f]{7}\)").all()
    revisions = dict(zip(ssvh["method"], ssvh["url"]))
    assert revisions["BTH"].endswith("Lily1994/BTH (commit c97db40)")
    assert revisions["ConMH"].endswith("huangmozhi9527/ConMH (commit d6dd5b5)")
    assert revisions["S5VH"].endswith("gimpong/AAAI25-S5VH (commit 4926cb7)")
    assert revisions["AutoSSVH"].endswith("EliSpectre/CVPR25-AutoSSVH (commit bf07c35)")


def test_the_numbers_are_the_published_ones(ssvh):
    for (method, dataset, bits), expected in REFERENCE.items():
        part = ssvh[(ssvh["method"] == method) & (ssvh["dataset"] == dataset) & (ssvh["bits"] == bits)]
        got = dict(zip(part["metric"], part["value"]))
        for k, value in expected.items():
            assert got[f"map_over_k@{k}"] == pytest.approx(value, abs=1e-9), (method, dataset, bits, k)
    # S5VH's README omits @60 and S5VH/AutoSSVH never report @10 (reference section 5.2)
    assert not ssvh[ssvh["method"].isin(["S5VH", "AutoSSVH"]) & (ssvh["metric"] == "map_over_k@10")].shape[0]
    assert not ssvh[(ssvh["method"] == "S5VH") & (ssvh["metric"] == "map_over_k@60")].shape[0]
    assert len(ssvh[(ssvh["method"] == "ConMH")]) == 3 * 3 * 6  # 3 datasets x 3 lengths x 6 K


def test_exactly_the_test_selected_papers_are_flagged(ssvh):
    flagged = ssvh[ssvh["selection"].map(is_test_selected)]
    assert set(flagged["method"]) == {"S5VH", "AutoSSVH"}
    assert len(flagged) == len(ssvh[ssvh["method"].isin(["S5VH", "AutoSSVH"])])
    assert set(flagged["selection"]) == {f"{TEST_SELECTED}:map_over_k@5"}
    assert not is_test_selected("best_val:map") and is_test_selected("best_test:map")
