"""Plots made in pieces (lab_app/qt/widgets/plots.py): the same plot pyqtgraph makes, built over
several slices of a staged build instead of one."""

import pyqtgraph as pg
import pytest
from PySide6.QtCore import QEventLoop, QTimer

from lab_app.qt import staged
from lab_app.qt.staged import StagedBuild
from lab_app.qt.widgets.plots import add_plot, plot_widget


def _shape(item: pg.PlotItem) -> dict:
    """What a reader of the plot sees of its structure."""
    return {
        "title": item.titleLabel.text,
        "title shown": item.titleLabel.isVisible(),
        "axes": {k: (a["item"].orientation, a["item"].isVisible(), a["item"].parentItem() is item)
                 for k, a in item.axes.items()},
        "view box in the plot": item.vb.parentItem() is item,
        "axes follow the view": all(a["item"].linkedView() is item.vb for a in item.axes.values()),
    }


@pytest.mark.parametrize("title", [None, "a title"])
def test_a_plot_made_in_pieces_is_the_plot_pyqtgraph_makes(qtbot, title):
    mine, theirs = plot_widget(title=title), pg.PlotWidget(title=title)
    for w in (mine, theirs):
        qtbot.addWidget(w)
    assert _shape(mine.getPlotItem()) == _shape(theirs.getPlotItem())
    assert mine.getPlotItem().axes["left"]["item"].isVisible()
    assert not mine.getPlotItem().axes["top"]["item"].isVisible()
    mine.plot([0, 1, 2], [3, 1, 2])   # the widget's wrapped methods reach its PlotItem
    assert len(mine.getPlotItem().listDataItems()) == 1


def test_add_plot_places_it_in_the_layout(qtbot):
    layout = pg.GraphicsLayoutWidget()
    qtbot.addWidget(layout)
    wide = add_plot(layout, row=0, col=0, colspan=2, title="wide")
    below = add_plot(layout, row=1, col=1, title="below")
    other = pg.GraphicsLayoutWidget()
    qtbot.addWidget(other)
    reference = other.addPlot(title="wide")
    assert _shape(wide) == _shape(reference)
    assert layout.getItem(0, 0) is wide and layout.getItem(1, 1) is below
    assert layout.ci.layout.itemAt(0, 1) is wide   # it spans both columns


def test_a_staged_build_yields_inside_a_plot(qtbot, monkeypatch):
    """With every pause due, one plot takes several slices: its pieces, not the whole plot, are the
    parts a slice is made of."""
    monkeypatch.setattr(staged, "SLICE_S", 0.0)
    build = StagedBuild(lambda: plot_widget(title="pieces"))
    loop = QEventLoop()
    build.built.connect(loop.quit)
    build.failed.connect(loop.quit)
    QTimer.singleShot(10_000, loop.quit)
    build.start()
    loop.exec()
    assert build.done and isinstance(build.result, pg.PlotWidget)
    qtbot.addWidget(build.result)
    assert build.slices >= 4
    assert build.result.getPlotItem().titleLabel.text == "pieces"


def test_the_lab_makes_its_plots_in_pieces():
    """A view that made a ``pg.PlotWidget`` (or ``addPlot``) itself would be one part of 12-40 ms in its
    tab's staged build again: the lab's plots come from plots.py."""
    import re
    from pathlib import Path

    import lab_app

    root = Path(lab_app.__file__).parent
    whole = re.compile(r"\bpg\.PlotWidget\(|\bPlotWidget\(|\.addPlot\(|\bpg\.PlotItem\(")
    found = [f"{p.relative_to(root)}:{i}" for p in root.rglob("*.py") if p.name != "plots.py"
             for i, line in enumerate(p.read_text().splitlines(), 1) if whole.search(line)]
    assert found == []
