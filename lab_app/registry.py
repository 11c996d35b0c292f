"""TOPICS: one line per tab. Adding a tab = a folder in lab_app/topics plus one line here.

This is the one place a tab's id, title and accepted file kinds are written: a tab class reads
them from its line (``TopicTab.spec``), never repeats them. The tab class is named as
"module:Class" and imported only when the tab is first shown, so ``--list-tabs``, the Qt-free
parts and the window's first paint import neither Qt's tab code nor torch."""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class TopicSpec:
    id: str
    title: str
    tab: str  # "package.module:ClassName"
    accepts: tuple[str, ...]  # file kinds from lab_app.io.kinds
    #: Modules the tab's first results import in the window's process, on the UI thread or in a thread
    #: beside it (the same interpreter lock: torchvision, whose detection views filter boxes with
    #: torchvision.ops; PIL, which reads an opened photo): imported ahead with the tab's module.
    preload: tuple[str, ...] = ()

    def load_class(self):
        module, _, name = self.tab.partition(":")
        return getattr(importlib.import_module(module), name)


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec("representation", "Contrastive learning", "lab_app.topics.representation.tab:RepresentationTab",
              ("image",), ("PIL.Image",)),
    TopicSpec("language", "Language models", "lab_app.topics.language.tab:LanguageTab", ("text",)),
    TopicSpec("reparam", "Reparameterization", "lab_app.topics.reparam.tab:ReparamTab", ()),
    TopicSpec("transforms", "GAN vs VAE (2D)", "lab_app.topics.transforms.tab:TransformsTab", ()),
    TopicSpec("vae", "VAE", "lab_app.topics.vae.tab:VaeTab", ("image",)),
    TopicSpec("anchorfree", "Anchor-free detection", "lab_app.topics.anchorfree.tab:AnchorFreeTab", ("image",), ("torchvision",)),
    TopicSpec("yolo", "YOLO v1", "lab_app.topics.yolo.tab:YoloTab", ("image",), ("torchvision",)),
    TopicSpec("pointcloud", "3D point clouds", "lab_app.topics.pointcloud.tab:PointCloudTab", ("pointcloud",)),
    TopicSpec("pyramids", "Pyramids & small objects", "lab_app.topics.pyramids.tab:PyramidsTab", ("image",), ("torchvision",)),
    TopicSpec("vq", "VQ-VAE / VQGAN", "lab_app.topics.vq.tab:VqTab", ("image",)),
)


def topic(tab_id: str) -> TopicSpec:
    for spec in TOPICS:
        if spec.id == tab_id:
            return spec
    raise KeyError(f"unknown tab {tab_id!r}; known tabs: {', '.join(t.id for t in TOPICS)}")


def spec_for_class(cls: type) -> TopicSpec:
    """The line of the registered tab class ``cls`` is (or derives from: a test's subclass)."""
    for klass in cls.__mro__:
        name = f"{klass.__module__}:{klass.__qualname__}"
        for spec in TOPICS:
            if spec.tab == name:
                return spec
    raise LookupError(f"{cls.__module__}.{cls.__qualname__} is not a tab in lab_app/registry.py TOPICS")


def tab_for_kind(kind: str, prefer: str | None = None) -> TopicSpec | None:
    """The tab that opens files of ``kind``: ``prefer`` (the current tab) if it accepts it."""
    if prefer is not None:
        for spec in TOPICS:
            if spec.id == prefer and kind in spec.accepts:
                return spec
    return next((spec for spec in TOPICS if kind in spec.accepts), None)
