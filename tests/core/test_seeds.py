"""A config's seed decides its run: for every task that trains, two runs with the same seed give the
same first losses on the CPU and a run with another seed gives other ones.

Each run is cut short: the task generator is advanced to its first loss report and closed (closing
runs its ``finally`` blocks, so the detectors' painting threads stop too).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from lab_app.core.control import Control
from lab_app.core.events import Progress, drain
from lab_app.core.seeds import run_seed, seeds_in


def first(task, pick, limit: int = 400):
    """The value ``pick(event)`` of the first event for which it is not None; the generator closed."""
    try:
        for _, event in zip(range(limit), task, strict=False):
            value = pick(event)
            if value is not None:
                return value
    finally:
        task.close()
    raise AssertionError(f"no loss within {limit} events")


def losses(*names):
    """A picker: the named metrics of the first Progress that has them."""

    def pick(event):
        if isinstance(event, Progress) and all(n in event.metrics for n in names):
            return tuple(float(event.metrics[n]) for n in names)
        return None

    return pick


# --- the tasks, each as seed -> first losses ------------------------------------------------------------


def contrastive(objective):
    def run(seed):
        from lab_app.topics.representation import task

        cfg = task.RepresentationConfig(objective=objective, batch_size=32, embed_dim=8, width=4,
                                        feature_dim=16, steps=5, limit=240, frame_points=50, seed=seed)
        return first(task.train(cfg, None, Control("cpu")), losses("loss", "alignment", "uniformity"))

    return run


def mutual_information(seed):
    from lab_app.topics.representation import mi_task

    cfg = mi_task.MIConfig(mi_batch=32, steps=3, report_every=1, seed=seed)
    return first(mi_task.estimate_mi(cfg, {}, Control("cpu")), losses("InfoNCE", "NWJ"))


def skipgram(seed):
    from lab_app.data.corpus import Document, make_corpus
    from lab_app.topics.language import task

    rng = np.random.default_rng(0)   # the text is fixed; only the seed of the config changes
    words = [f"w{i}" for i in range(30)]
    text = "\n".join(" ".join(rng.choice(words, 8)) + " ." for _ in range(200))
    corpus = make_corpus([Document("toy", text)], "words")
    cfg = task.LanguageConfig(embed_dim=8, embed_steps=20, seed=seed)
    return first(task.train_embeddings(cfg, corpus, Control("cpu")), losses("loss"))


def race(seed):
    from lab_app.topics.reparam import task

    cfg = task.EstimatorConfig(samples=200, race_steps=10, seed=seed)

    def pick(event):
        if isinstance(event, task.RaceFrame):
            return tuple(float(c[-1]) for name, c in sorted(event.curves.items()) if name != "exact gradient")
        return None

    return first(task.estimate(cfg, np.log([0.5, 0.3, 0.2]), 0.5, Control("cpu")), pick)


def gumbel_vae(seed):
    from lab_app.topics.reparam import vae_task

    cfg = vae_task.CategoricalVAEConfig(latent_vars=4, classes=5, steps=4, batch_size=16, report_every=2,
                                        hidden=32, seed=seed)
    return first(vae_task.train(cfg, {}, Control("cpu")), losses("categorical loss", "Gaussian loss"))


def transforms(which):
    def run(seed):
        from lab_app.topics.transforms import task

        cfg = task.TransformsConfig(batch_size=64, hidden=16, steps=3, field_size=8, shown_samples=64,
                                    seed=seed)
        train = task.train_gan if which == "gan" else task.train_vae
        names = ("d_loss", "g_loss") if which == "gan" else ("vae_loss", "kl")
        return first(train(cfg, {}, Control("cpu")), losses(*names))

    return run


def vae(seed):
    from lab_app.topics.vae import task

    cfg = task.VaeTaskConfig(dataset="digits", epochs=1, batch_size=16, width=32, iw_k=0, manifold=2,
                             recon_count=2, limit=240, seed=seed)
    return first(task.train(cfg, None, Control("cpu")), losses("loss"))


def detector(module, **extra):
    def run(seed):
        import importlib

        pytest.importorskip("pycocotools")
        task = importlib.import_module(module)
        cfg = replace(task.Config(), classes=2, max_objects=2, image_size=64, width=8, batch_size=4, steps=5,
                      eval_every=1000, seed=seed, **extra)
        return first(task.train(cfg, None, Control("cpu")), losses("loss"))

    return run


def pointnet(seed):
    from lab_app.data.shapes import PointSetDataset
    from lab_app.topics.pointcloud import pointnet_task as task

    rng = np.random.default_rng(0)   # fixed clouds; the seed drives init, batch order, subsets, rotations
    x = rng.normal(size=(24, 64, 3)).astype(np.float32) * np.array([1.0, 0.3, 0.1], np.float32)
    y = np.arange(24) % 2
    x[y == 1] = x[y == 1][:, :, ::-1]
    data = PointSetDataset(("a", "b"), x[:16], y[:16], x[16:], y[16:], source="toy clouds")
    cfg = replace(task.TrainConfig(), epochs=1, batch_size=8, global_width=32, points=64, train_points=32,
                  eval_clouds=8, report_every=1, seed=seed)
    return first(task.train(cfg, data, Control("cpu")), losses("loss"))


TASKS = [
    pytest.param(contrastive("InfoNCE"), id="contrastive"),
    pytest.param(contrastive("pairwise contrastive"), id="pairwise"),
    pytest.param(contrastive("rotation pretext"), id="rotation"),
    pytest.param(mutual_information, id="mutual-information"),
    pytest.param(skipgram, id="skip-gram"),
    pytest.param(race, id="estimators-race"),
    pytest.param(gumbel_vae, id="gumbel-vae"),
    pytest.param(transforms("gan"), id="gan"),
    pytest.param(transforms("vae"), id="vae-2d"),
    pytest.param(vae, id="vae"),
    pytest.param(detector("lab_app.topics.yolo.task"), id="yolo"),
    pytest.param(detector("lab_app.topics.anchorfree.task", head="CenterNet"), id="centernet"),
    pytest.param(detector("lab_app.topics.anchorfree.task", head="FCOS"), id="fcos"),
    pytest.param(pointnet, id="pointnet"),
]


@pytest.mark.parametrize("run", TASKS)
def test_same_seed_same_first_losses_other_seed_other_losses(run):
    torch.manual_seed(12345)          # what the process-wide generator held must not matter
    a = run(3)
    torch.manual_seed(999)
    np.random.seed(7)
    b = run(3)
    c = run(4)
    assert all(math.isfinite(v) for v in a), a
    assert a == b                      # exactly: same draws, same arithmetic
    assert a != c


def test_ngram_fit_has_no_randomness_and_sampling_follows_the_seed():
    """The n-gram model is counted, not trained: its held-out perplexity is the same whatever the seed
    (the held-out text is the corpus's last sentences, not a random draw). The seed decides sampling."""
    from lab_app.data.corpus import Document, make_corpus
    from lab_app.topics.language import task

    rng = np.random.default_rng(1)
    words = [f"w{i}" for i in range(12)]
    text = "\n".join(" ".join(rng.choice(words, 6)) + " ." for _ in range(300))
    corpus = make_corpus([Document("toy", text)], "words")

    def fitted(seed):
        cfg = task.LanguageConfig(order=2, seed=seed)
        model = cfg.model().fit(corpus.train)
        return model.perplexity(corpus.heldout), model

    pp3, model = fitted(3)
    pp4, _ = fitted(4)
    assert math.isfinite(pp3) and pp3 == pp4

    def sentences(seed):
        _, out = drain(task.sample_sentences(model, 1.0, 0, [], 4, seed, Control("cpu")))
        return out

    assert sentences(3) == sentences(3)
    assert sentences(3) != sentences(4)


# --- what a run card says ---------------------------------------------------------------------------------


def test_seeds_in_finds_every_seed_of_a_nested_config():
    from lab_app.topics.representation.mi_task import MIConfig
    from lab_app.topics.representation.task import RepresentationConfig

    config = {**RepresentationConfig(seed=5).__dict__, "mi": MIConfig(seed=5), "runs": [{"seed": 6}]}
    assert seeds_in(config) == {"seed": 5, "mi.seed": 5, "runs[0].seed": 6}
    assert run_seed(config, 0) == (None, {"seed": 5, "mi.seed": 5, "runs[0].seed": 6})
    assert run_seed({"seed": 5, "mi": {"seed": 5}}, 0) == (5, {})
    assert run_seed({"points": 3}, 9) == (9, {})        # no seed in the config: the window's
    assert seeds_in({"seed": True, "x": None}) == {}    # a bool is not a seed
