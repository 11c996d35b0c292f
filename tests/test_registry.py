"""lab_app/registry.py is the one source of a tab's id, title and accepted file kinds: no tab class
repeats them, each tab reads its own line, and the lines agree with the file kinds the lab reads."""

import importlib.util
import inspect

import pytest

from lab_app.io.kinds import CHECKPOINT, IMAGE, POINTCLOUD, TEXT
from lab_app.registry import TOPICS, TopicSpec, spec_for_class, tab_for_kind, topic


def test_ids_and_titles_are_unique_and_kinds_known():
    ids = [s.id for s in TOPICS]
    titles = [s.title for s in TOPICS]
    assert len(set(ids)) == len(ids), ids
    assert len(set(titles)) == len(titles), titles
    assert all(i and i == i.lower() and " " not in i for i in ids), ids
    for spec in TOPICS:
        assert set(spec.accepts) <= {IMAGE, POINTCLOUD, TEXT, CHECKPOINT}, spec
        for name in spec.preload:       # imported ahead of the tab's build: a typo would go unnoticed
            assert importlib.util.find_spec(name) is not None, (spec.id, name)


@pytest.fixture(scope="module")
def tab_classes():
    from lab_app.qt.tab_base import TopicTab

    return TopicTab, {spec.id: spec.load_class() for spec in TOPICS}


@pytest.mark.parametrize("name", ["tab_id", "title", "accepts", "spec"])
def test_no_tab_class_repeats_what_the_registry_says(tab_classes, name):
    TopicTab, classes = tab_classes
    from_registry = inspect.getattr_static(TopicTab, name)
    repeated = [f"{cls.__module__}.{cls.__qualname__}" for cls in classes.values()
                if inspect.getattr_static(cls, name) is not from_registry]
    assert not repeated, f"{name} is set in {repeated}: write it only in lab_app/registry.py"


def test_each_tab_class_finds_its_own_line(tab_classes):
    TopicTab, classes = tab_classes
    for tab_id, cls in classes.items():
        assert issubclass(cls, TopicTab)
        assert spec_for_class(cls) is topic(tab_id)

    class Patched(classes["vae"]):  # a test's subclass still belongs to its parent's line
        pass

    assert spec_for_class(Patched).id == "vae"
    with pytest.raises(LookupError, match="not a tab"):
        spec_for_class(TopicTab)


def test_an_instance_answers_from_its_line(monkeypatch):
    import lab_app.registry as registry
    from lab_app.qt.tab_base import TopicTab

    class Fake(TopicTab):
        pass

    spec = TopicSpec("fake", "A fake tab", f"{Fake.__module__}:{Fake.__qualname__}", (TEXT,))
    monkeypatch.setattr(registry, "TOPICS", registry.TOPICS + (spec,))
    fake = Fake.__new__(Fake)  # no widget needed to read the class's line
    assert fake.spec is spec
    assert (fake.tab_id, fake.title, fake.accepts) == ("fake", "A fake tab", (TEXT,))


def test_files_go_to_the_tab_that_accepts_them():
    assert tab_for_kind(POINTCLOUD).id == "pointcloud"
    assert tab_for_kind(TEXT).id == "language"
    image_tabs = [s.id for s in TOPICS if IMAGE in s.accepts]
    assert len(image_tabs) > 1
    assert tab_for_kind(IMAGE).id == image_tabs[0]
    assert tab_for_kind(IMAGE, prefer=image_tabs[-1]).id == image_tabs[-1]
    assert tab_for_kind(IMAGE, prefer="reparam").id == image_tabs[0]  # reparam reads no images
