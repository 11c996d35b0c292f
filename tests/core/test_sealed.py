"""Sealed (lab_app/core/sealed.py): a value the window holds as bytes between runs in its worker."""

from __future__ import annotations

import pickle
import threading

from lab_app.core.sealed import Sealed, opened
from tests.core.tasks import Weighty


def _counts():
    return Weighty.pickled, Weighty.unpickled


def test_a_sealed_value_crosses_as_bytes_and_is_unpickled_only_when_opened():
    made_there = Sealed(Weighty([1, 2, 3]), count=3)
    before = _counts()
    here = pickle.loads(pickle.dumps(made_there))          # the worker's return, as the window gets it
    assert _counts() == (before[0] + 1, before[1])          # pickled once there, nothing rebuilt here
    assert not here.is_open and here.meta == {"count": 3}
    again = pickle.loads(pickle.dumps(here))                 # sent back with the next run: the same bytes
    assert _counts() == (before[0] + 1, before[1])
    assert again.open().values == [1, 2, 3] and again.is_open
    assert _counts() == (before[0] + 1, before[1] + 1)
    assert again.open() is again.open()                      # opened once, then kept


def test_pickling_a_sealed_value_twice_pickles_the_value_once():
    sealed = Sealed(Weighty([4]))
    before = _counts()
    first, second = pickle.dumps(sealed), pickle.dumps(sealed)
    assert first == second and _counts() == (before[0] + 1, before[1])


def test_in_threads_nothing_is_pickled_and_open_gives_the_value_itself():
    value = Weighty([5, 6])
    sealed = Sealed(value)
    before = _counts()
    got = []
    t = threading.Thread(target=lambda: got.append(opened(sealed)))
    t.start()
    t.join()
    assert got == [value] and _counts() == before and sealed.is_open
    assert opened(value) is value                            # scripts pass the plain value


def test_a_sealed_none_is_a_value():
    here = pickle.loads(pickle.dumps(Sealed(None, note="empty")))
    assert not here.is_open and here.open() is None and here.is_open



def test_a_sealed_value_in_a_task_sent_by_cloudpickle_still_opens():
    """The runner sends a task's partial with cloudpickle, which sends by value what it cannot find
    by name; the Sealed must arrive as itself (unopened, then its value), not as a copy of its
    module's marker."""
    import functools

    import cloudpickle

    here = pickle.loads(pickle.dumps(Sealed(Weighty([7, 8]))))
    task = cloudpickle.loads(cloudpickle.dumps(functools.partial(opened, here)))
    assert not task.args[0].is_open and task().values == [7, 8]
