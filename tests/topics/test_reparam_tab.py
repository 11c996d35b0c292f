"""Reparameterization tab with qtbot: histograms drawn from the task, tau moves the drawn samples,
dragging the logits moves p, a bad expression shows its message, the VAE sub-tab trains and decodes."""

import numpy as np
import pytest
import torch

from lab_app.qt.tab_base import LabContext
from lab_app.topics.reparam import task, vae_task
from lab_app.topics.reparam.tab import ReparamTab


@pytest.fixture
def tab(qtbot):
    torch.set_num_threads(1)
    t = ReparamTab(LabContext(torch.device("cpu")))
    qtbot.addWidget(t)
    t.resize(1500, 950)
    t.show()
    yield t
    assert t.shutdown()


def test_histograms_and_simplex_respond_to_knobs(tab, qtbot):
    with qtbot.waitSignal(tab.demo_ready, timeout=30_000):
        tab.redraw_simplex()
        tab.start_estimates(task.EstimatorConfig(samples=5000, race_steps=20))
    frame = tab.estimator_frame
    race = tab.estimator_plots.race_items      # the demo is ready once the race has drawn too
    assert "exact gradient" in race and len(race["exact gradient"].getData()[0]) > 1
    x, y = tab.estimator_plots.hist_items["pathwise"].getData()
    assert np.array_equal(x, frame.edges) and np.array_equal(y, frame.counts[2])
    assert tab.estimator_plots.exact_line.value() == pytest.approx(2.0, abs=1e-6)  # d/dmu E[z^2] = 2 mu
    assert "pathwise" in tab.numbers.text()

    # Each sample is drawn in the colour of its Gumbel-max class, at its relaxed position.
    hard = np.asarray(tab.samples.hard)
    for k, scatter in enumerate(tab.simplex.scatters):
        assert len(scatter.getData()[0]) == np.sum(hard == k)
        assert scatter.opts["brush"].color() == tab.simplex.brushes[k].color()
    assert np.allclose(tab.simplex.drawn_xy(), task.simplex_xy(tab.samples.soft))

    # Moving tau moves the drawn samples: low tau -> corners, high tau -> the centre.
    before = tab.simplex.drawn_xy().copy()
    tab.simplex_params.control("tau").setValue(8.0)
    hot = tab.simplex.drawn_xy()
    assert hot.shape == before.shape and np.abs(hot - before).mean() > 0.05
    centre = task.CORNERS.mean(0)
    assert np.linalg.norm(hot - centre, axis=1).mean() < np.linalg.norm(before - centre, axis=1).mean() / 2
    assert "tau = 8" in tab.simplex.plot_widget.getPlotItem().titleLabel.text
    assert tab.tau_plot.getPlotItem().items[-1].value() == pytest.approx(np.log10(8.0))

    # Dragging the target sets the logits; Gumbel-max frequencies follow softmax(logits).
    tab.simplex.target.setPos(*task.simplex_xy(np.array([[0.1, 0.8, 0.1]]))[0])
    assert np.allclose(np.exp(tab.logits) / np.exp(tab.logits).sum(), [0.1, 0.8, 0.1], atol=1e-6)
    heights = tab.freq_bars[1].opts["height"]
    assert np.allclose(heights, [0.1, 0.8, 0.1], atol=0.03)

    # The categorical case uses the simplex logits; a bad custom f is refused with a message.
    with qtbot.waitSignal(
        tab.runner.event, timeout=30_000, check_params_cb=lambda ev: isinstance(ev, task.EstimatorFrame)
    ):
        tab.est_params.control("distribution").setCurrentText(task.DISTRIBUTIONS[1])
    assert (
        "Gumbel-Softmax" in tab.estimator_plots.hist_items
        and "pathwise" not in tab.estimator_plots.hist_items
    )
    tab.expression.setText("__import__('os')")
    tab.expression.editingFinished.emit()
    assert "not allowed" in tab.expression_error.text()


def test_vae_subtab_trains_and_click_changes_the_code(tab, qtbot):
    cfg = vae_task.CategoricalVAEConfig(
        latent_vars=4, classes=5, steps=100, report_every=50, eval_every=100, hidden=32
    )  # 100: the steps slider's minimum
    with qtbot.waitSignal(tab.vae_runner.finished, timeout=60_000):
        tab.start_vae(cfg)
    steps, elbo = tab.elbo_curve.series("categorical (Gumbel-Softmax)")
    assert list(steps) == [50, 100] and np.all(elbo < 0)
    assert "Gaussian" in tab.vae_numbers.text() and tab.vae_result is not None
    tab.code_grid.cell_clicked.emit(1, 3)
    assert tab._vae_live["code"][1] == 3 and tab.code_grid.selected == 1
    image, variations = vae_task.decode(tab.vae_result.categorical, tab._vae_live["code"], 1, (8, 8))
    assert np.allclose(tab.code_grid.decoded_image.image, image.T)
    sheet = tab.code_grid.strip_sheet  # the K variations tiled: class 3's image is the decoded one
    assert np.allclose(sheet[:8, 3 * 9 : 3 * 9 + 8], variations[3]) and np.allclose(variations[3], image)
    assert "variable 1" in tab.code_grid.strip_label.text


def test_bias_variance_curve_is_computed_in_a_worker_for_the_dragged_logits(tab, qtbot):
    with qtbot.waitSignal(tab.curve_runner.finished, timeout=30_000):
        tab.simplex.target.setPos(*task.simplex_xy(np.array([[0.6, 0.2, 0.2]]))[0])
    logits = tab.logits.copy()
    taus, bias, var = task.bias_variance_curve(tab.config, logits)
    x, y = tab.var_item.getData()
    assert np.allclose(x, np.log10(taus[var > 0])) and np.allclose(y, np.log10(var[var > 0]))  # log-log axes
    # other logits, another curve: the drawn one is the dragged logits' own
    other = task.bias_variance_curve(tab.config, np.log(np.array([0.2, 0.2, 0.6])))[2]
    assert not np.allclose(y, np.log10(other[other > 0])[: len(y)])
