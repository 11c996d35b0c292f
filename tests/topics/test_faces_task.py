"""The faces sub-tab's Qt-free work: crowds with exact faces, recall by size, re-running only the stale
stage, bad input, the command line and the crowd measurement."""

import json

import numpy as np
import pytest
from PIL import Image

from lab_app.core.control import Control
from lab_app.core.events import drain
from lab_app.io.errors import LoadError
from lab_app.topics.pyramids import crowd as C
from lab_app.topics.pyramids import faces as F
from lab_app.topics.pyramids import measure
from models import mtcnn as M


def run(photo, cfg, cache=None):
    return drain(F.cascade_task(photo, cfg, Control("cpu"), cache=cache, with_lbp=False))


def test_crowd_faces_are_where_the_boxes_say():
    crowd = C.make_crowd(3, sizes=[100, 60, 30, 12])
    assert len(crowd.boxes) == 4 and crowd.image.shape == (480, 640, 3)
    assert sorted(crowd.sizes.tolist()) == [12, 30, 60, 100]
    for x0, y0, x1, y1 in crowd.boxes.astype(int):
        patch = crowd.image[y0:y1, x0:x1].astype(int)
        assert (patch[..., 0] == patch[..., 1]).all() and (patch[..., 1] == patch[..., 2]).all()  # grey face
    assert C.iou_matrix(crowd.boxes, crowd.boxes)[~np.eye(4, dtype=bool)].max() == 0.0


def test_match_is_one_to_one_and_recall_is_binned_by_size():
    truth = np.array([[0, 0, 10, 10], [50, 50, 90, 90], [200, 200, 300, 300]], float)
    dets = np.array([[1, 1, 11, 11], [0, 0, 10, 10], [52, 48, 92, 88]], float)   # two on the first face
    found, false = C.match(truth, dets, np.array([0.5, 0.9, 0.8]))
    assert found.tolist() == [True, True, False] and false.tolist() == [True, False, False]
    assert C.recall_by_size(np.array([10, 40, 100]), found) == {
        8: (1, 1), 12: (0, 0), 16: (0, 0), 24: (0, 0), 32: (1, 1), 48: (0, 0), 64: (0, 0), 96: (0, 1)}


def test_recall_is_one_for_large_faces_and_zero_under_the_minimum_size():
    crowd = C.make_crowd(7, sizes=[110, 90, 72, 56, 14, 12, 10])
    photo = F.prepare(crowd.image, "crowd", truth=crowd.boxes)
    _, cache = run(photo, F.FacesConfig(min_face=32))
    found, _ = C.match(crowd.boxes, cache.final.boxes.numpy(), cache.final.scores.numpy())
    big = crowd.sizes >= 56
    assert found[big].all()                       # every large face
    assert not found[~big].any()                  # none under the 32 px minimum


def test_threshold_changes_rerun_only_from_their_stage():
    model = F.load_mtcnn("cpu")
    calls = {"pnet": 0, "rnet": 0, "onet": 0}
    hooks = [getattr(model, n).register_forward_hook(lambda *a, n=n: calls.__setitem__(n, calls[n] + 1))
             for n in calls]
    try:
        crowd = C.make_crowd(1, height=240, width=320, sizes=[90, 60, 40, 30])
        photo = F.prepare(crowd.image, "crowd", truth=crowd.boxes)
        cfg = F.FacesConfig(min_face=24)
        events, cache = run(photo, cfg)
        levels = M.level_count(240, 320, 24)
        assert calls == {"pnet": levels, "rnet": 1, "onet": 1}
        drawn = [e for e in events if isinstance(e, F.CascadeDrawn)][-1]
        assert drawn.levels == levels == len(cache.maps.probs) and drawn.from_stage == 0
        n_faces = len(cache.final)

        events, cache3 = run(photo, F.FacesConfig(min_face=24, t3=0.999), cache)
        assert calls == {"pnet": levels, "rnet": 1, "onet": 1}          # no network ran
        assert [e.from_stage for e in events if isinstance(e, F.CascadeDrawn)] == [3]
        assert len(cache3.final) == int((cache.final.scores > 0.999).sum()) and len(cache.final) == n_faces

        _, cache2 = run(photo, F.FacesConfig(min_face=24, t2=0.95), cache3)
        assert calls == {"pnet": levels, "rnet": 1, "onet": 2}          # O-Net again, R-Net kept
        _, cache1 = run(photo, F.FacesConfig(min_face=24, t1=0.9), cache2)
        assert calls == {"pnet": levels, "rnet": 2, "onet": 3}
        assert len(cache1.proposals.raw) < len(cache.proposals.raw)
        _, cache0 = run(photo, F.FacesConfig(min_face=40), cache1)
        assert calls["pnet"] == levels + M.level_count(240, 320, 40)      # a new pyramid
    finally:
        for h in hooks:
            h.remove()


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16"])
def test_grey_rgba_and_16_bit_photos_run(tmp_path, mode):
    crowd = C.make_crowd(5, sizes=[90, 70])
    grey = crowd.image[..., 0]
    img = {"L": Image.fromarray(grey), "RGBA": Image.fromarray(crowd.image).convert("RGBA"),
           "I;16": Image.fromarray(grey.astype(np.uint16) * 257)}[mode]
    img.save(tmp_path / "photo.png")
    events, cache = run(tmp_path / "photo.png", F.FacesConfig(min_face=48))
    photo = next(e.photo for e in events if isinstance(e, F.PhotoShown))
    assert photo.image.shape == (480, 640, 3) and photo.name == "photo.png"
    found, _ = C.match(crowd.boxes, cache.final.boxes.numpy())
    assert found.all()


def test_corrupt_file_is_refused_by_name(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(LoadError, match="broken.jpg"):
        run(bad, F.FacesConfig())


def test_tiny_photo_has_no_level_and_no_faces(tmp_path):
    Image.fromarray(np.full((8, 8, 3), 128, np.uint8)).save(tmp_path / "tiny.png")
    events, cache = run(tmp_path / "tiny.png", F.FacesConfig(min_face=20))
    drawn = [e for e in events if isinstance(e, F.CascadeDrawn)][-1]
    assert drawn.levels == 0 and all(len(s["boxes"]) == 0 for s in drawn.stages.values())


def test_huge_photo_is_downscaled_with_a_note():
    truth = np.array([[400.0, 400, 800, 800]])
    photo = F.prepare(np.zeros((1700, 2000, 3), np.uint8), "huge.png", truth=truth)
    assert photo.image.shape == (1360, 1600, 3)
    assert "downscaled from 2000 x 1700 to 1600 x 1360" in photo.notes[0]
    assert photo.truth.tolist() == [[320.0, 320.0, 640.0, 640.0]]


def test_command_line_prints_faces_and_names_a_bad_file(tmp_path, capsys):
    bad = tmp_path / "corrupt.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    rc = F.main(["astronaut", str(bad), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 1
    astronaut, broken = out["photos"]
    assert astronaut["levels"] == M.level_count(512, 512, 20) and len(astronaut["faces"]) == 1
    face = astronaut["faces"][0]
    x0, y0, x1, y1 = face["box"]
    assert 170 < x0 < x1 < 280 and 50 < y0 < y1 < 185 and face["score"] > 0.99    # her face
    assert len(face["landmarks"]) == 5 and all(x0 < x < x1 and y0 < y < y1 for x, y in face["landmarks"])
    assert "corrupt.png" in broken["error"]


def test_measure_task_counts_every_face_and_times_each_size():
    cfg = F.FacesConfig(min_face=48, seed=2)
    events, tally = drain(measure.measure_task(cfg, Control("cpu"), images=1, sweep=(96, 64)))
    crowd = C.make_crowd(measure.crowd_seed(2, 0))
    point = [e for e in events if isinstance(e, measure.RecallPoint)][-1]
    assert sum(point.totals) == len(crowd.boxes) and point.images == 1
    small = sum(t for b, t in zip(point.bins, point.totals) if b < 32)
    assert sum(point.mtcnn_found) <= len(crowd.boxes) - small          # nothing under 32 px at min face 48
    times = [e for e in events if isinstance(e, measure.TimePoint)]
    assert [t.min_face for t in times] == [96, 64]
    assert [t.levels for t in times] == [M.level_count(480, 640, 96), M.level_count(480, 640, 64)]
    assert all(t.mtcnn_ms > 0 and t.lbp_ms > 0 for t in times)


def test_the_faces_work_imports_no_qt():
    import subprocess
    import sys

    code = ("import sys, lab_app.topics.pyramids.faces, lab_app.topics.pyramids.measure, "
            "lab_app.topics.pyramids.crowd, lab_app.topics.pyramids.vendor_mtcnn, models.mtcnn\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'superqt')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
