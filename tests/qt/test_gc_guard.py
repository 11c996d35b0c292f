"""Cyclic garbage is collected by a timer in the GUI thread, never by whichever thread allocates,
and a full pass (generation 2) runs only by CPython's rule: once the objects promoted into the old
generation since its last full pass reach a quarter of it."""

import gc
import sys
import threading
import weakref

import pytest

from lab_app.qt import gc_guard
from lab_app.qt.gc_guard import GuiCollector, collect_in_gui_thread


@pytest.fixture
def generations():
    """The generation of each collection that runs, in order (gc's own callbacks)."""
    seen = []

    def record(phase, info):
        if phase == "start":
            seen.append((info["generation"], threading.current_thread()))

    gc.callbacks.append(record)
    yield seen
    gc.callbacks.remove(record)


def test_collections_happen_only_in_the_gui_thread(qtbot, generations):
    gc.enable()
    guard = collect_in_gui_thread(interval_s=0.05)
    assert not gc.isenabled() and guard.timer.isActive()
    # A worker allocating far past the collector's thresholds: with automatic collection on,
    # the collection would run in this worker (and free Qt objects there).
    worker = threading.Thread(target=lambda: [[i] for i in range(50_000)])
    worker.start()
    worker.join()
    assert generations == []
    kept = []

    def allocated_and_collected():
        # Keep allocating: frees elsewhere lower the collector's count, so one burst may not do.
        kept.append([[i] for i in range(2000)])
        return len(generations) > 0

    qtbot.waitUntil(allocated_and_collected, timeout=5000)
    assert all(t is threading.main_thread() for _, t in generations)
    guard.timer.stop()
    gc_guard._guard = None   # the rest of the suite collects after each test (conftest), freezes nothing


def _allocate_and_check(guard, kept: list, n: int, keep: int) -> None:
    """``n`` new container objects alive while the guard checks (the collector counts allocations
    minus frees), of which ``keep`` stay alive after."""
    batch = [[i] for i in range(n)]
    kept.extend(batch[:keep])
    guard.check()


def test_no_full_pass_while_few_objects_survive(qtbot, generations):
    guard = GuiCollector(interval_s=3600)   # driven by hand below, not by its timer
    kept: list = []
    # 150 checks with allocations past the threshold: pyqtgraph's timer (a full pass every 10th
    # generation-1 pass) would have run one by the 110th; a handful of survivors never earn one
    for _ in range(150):
        _allocate_and_check(guard, kept, 2000, keep=10)
    gens = [g for g, _ in generations]
    assert gens.count(1) >= 10 and 2 not in gens
    assert guard.passes[1] == gens.count(1) and guard.passes[2] == 0
    assert 0 < guard.pending < guard.long_lived // 4


def test_full_pass_once_survivors_reach_a_quarter(qtbot, generations):
    guard = GuiCollector(interval_s=3600)
    before = guard.long_lived
    kept: list = []
    _allocate_and_check(guard, kept, before // 4 + 20_000, keep=before // 4 + 20_000)  # all survive
    for _ in range(200):    # enough checks for 11 generation-1 passes (each after 11 of generation 0)
        _allocate_and_check(guard, kept, 2000, keep=0)
        if guard.passes[2]:
            break
    assert [g for g, _ in generations].count(2) == 1 and guard.passes[2] == 1
    assert guard.pending == 0
    # what it now holds counts the survivors it promoted
    assert guard.long_lived >= before + before // 4


class _Node:
    pass


def test_settle_collects_young_garbage_then_takes_the_living_out_of_full_passes(qtbot):
    guard = GuiCollector(interval_s=3600)
    cycle = _Node()
    cycle.me = cycle                     # garbage only the cyclic collector finds
    dead = weakref.ref(cycle)
    del cycle
    alive = [_Node() for _ in range(5000)]
    frozen = gc.get_freeze_count()
    try:
        guard.settle()
        assert dead() is None                                  # collected, not frozen
        assert gc.get_freeze_count() >= frozen + len(alive)
        old = {id(o) for o in gc.get_objects(generation=2)}
        assert not any(id(o) in old for o in alive)            # a full pass no longer traverses them
        assert guard.long_lived == len(old) and guard.pending == 0
    finally:
        gc.unfreeze()


def test_settle_freezes_generation_1_without_a_pass(qtbot):
    """What has survived a pass already is frozen as it is: a cycle that became garbage after reaching
    generation 1 is not looked for (a pass over an import's objects held the UI thread 30-40 ms)."""
    guard = GuiCollector(interval_s=3600)
    cycle = _Node()
    cycle.me = cycle
    dead = weakref.ref(cycle)
    gc.collect(0)                        # alive now: on to generation 1
    del cycle                            # garbage in generation 1
    try:
        guard.settle()
        assert dead() is not None and gc.get_count()[0] < 100
        assert not any(o is dead() for o in gc.get_objects(generation=1))   # frozen, not left young
    finally:
        gc.unfreeze()
        gc.collect()
    assert dead() is None                # the next full pass after unfreezing finds it


def test_prepare_gui_thread_collects_often_and_shortens_the_switch_interval(qtbot, generations):
    """The window's process: young garbage is collected in small passes (a check every few frames,
    not every second) and another Python thread hands the interpreter lock to the GUI thread within
    a millisecond, not the default 5 ms."""
    from lab_app.qt.gui_thread import SWITCH_INTERVAL_S, prepare_gui_thread

    before = sys.getswitchinterval()
    guard = prepare_gui_thread()
    try:
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S) and SWITCH_INTERVAL_S < before
        assert not gc.isenabled() and 0 < guard.timer.interval() <= 50
        kept = []
        qtbot.waitUntil(lambda: kept.append([[i] for i in range(2000)]) or bool(generations), timeout=2000)
        assert all(t is threading.main_thread() for _, t in generations)
    finally:
        guard.timer.stop()
        gc_guard._guard = None
        sys.setswitchinterval(before)


def test_while_imports_are_in_flight_young_survivors_are_frozen_not_traversed(qtbot, generations):
    """While the window imports modules ahead (their objects live as long as the process), a due
    generation-1 pass would traverse them only to find them alive: the young generations are frozen
    instead, young garbage still goes in generation-0 passes, and no full pass runs. Released, the
    passes run as before."""
    guard = GuiCollector(interval_s=3600)
    gc_guard._guard = guard
    frozen = gc.get_freeze_count()
    try:
        gc_guard.hold_full_passes()
        kept: list = []
        cycle = _Node()
        cycle.me = cycle
        dead = weakref.ref(cycle)
        del cycle
        for _ in range(200):
            _allocate_and_check(guard, kept, 2000, keep=100)
        gens = [g for g, _ in generations]
        assert gens.count(0) >= 10 and 1 not in gens and 2 not in gens
        assert guard.frozen_while_held >= 10 and guard.passes[1] == guard.passes[2] == 0
        assert dead() is None                                        # young garbage: collected
        assert gc.get_freeze_count() >= frozen + len(kept) // 2      # the survivors: frozen
        gc_guard.release_full_passes()
        generations.clear()
        for _ in range(200):
            _allocate_and_check(guard, kept, 2000, keep=0)
        assert [g for g, _ in generations].count(1) >= 10 and guard.passes[1] >= 10
    finally:
        gc.unfreeze()
        gc_guard._guard = None


def test_import_ahead_holds_full_passes_until_done(qtbot):
    from lab_app.qt.lazy_tabs import ImportAhead

    guard = GuiCollector(interval_s=3600)
    gc_guard._guard = guard
    try:
        imports = ImportAhead()
        with qtbot.waitSignal(imports.ready, timeout=10_000) as ready:
            imports.start("json", ["json"])
            assert guard.holds == 1
        assert ready.args == ["json"] and guard.holds == 1   # ready: the window freezes, then builds
        imports.done("json")
        imports.done("json")                                  # a second done releases nothing more
        assert guard.holds == 0
    finally:
        gc_guard._guard = None
