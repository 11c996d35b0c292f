"""A pyqtgraph 3D view in its own native window, so that the rest of the lab window stays raster.

A QOpenGLWidget anywhere in a top-level window switches that whole window to OpenGL composition:
from the first time one is shown, every repaint of every other widget (each plot of each tab) is
uploaded as a texture and composed with OpenGL before it reaches the screen, and Qt never switches
back, not even once the GL widget is deleted. On software OpenGL (Mesa's llvmpipe, which is what a
machine without a GPU, or a remote desktop, gives) that made every pyqtgraph repaint slower for the
rest of the session once the 3D tab had been opened (``benchmarks/ui_stalls.py``: the tabs visited
after it stalled much longer than when visited without it; figures in the README).

pyqtgraph's camera, items and mouse handling live in ``GLViewMixin``, which works over a
QOpenGLWindow as well as over a QOpenGLWidget. Embedded with ``QWidget.createWindowContainer``, the
window draws into its own native surface: the lab window's own widgets keep Qt's raster path.

The cost: a grab of a widget does not see into a native child window. ``export.grab_widget`` grabs
a widget and paints each GL view inside it from that view's own framebuffer, which is what every
export, the window export and ``--screenshot`` use.
"""

from __future__ import annotations

import atexit
import functools

from OpenGL import GL
from pyqtgraph.opengl.GLViewWidget import GLViewMixin, GLViewWidget
from PySide6.QtCore import QCoreApplication, QEvent, QEventLoop, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QImage, QOpenGLContext
from PySide6.QtOpenGL import QOpenGLWindow
from PySide6.QtWidgets import QApplication, QSizePolicy, QVBoxLayout, QWidget
from shiboken6 import Shiboken

from lab_app.qt import turn_budget
from lab_app.qt.widgets.export import GL_HOST

_DRAG_EVENTS = {QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.DragLeave, QEvent.Type.Drop}


class GLViewWindow(GLViewMixin, QOpenGLWindow):
    """pyqtgraph's GLViewWidget API (items, camera, orbit, mouse and keys) on a QOpenGLWindow.

    Unlike a QOpenGLWidget, which makes its context when shown, the window makes it at its first
    paint: ``initialized`` says when it exists (connect it queued: it is emitted inside that paint)."""

    initialized = Signal()
    #: the widget around this window's container (the container hands drags to the window, which
    #: refuses them): files dragged onto the view go to it, and from there up to the first widget
    #: that accepts drops (the lab window, which opens them)
    drop_target: QWidget | None = None

    def initializeGL(self) -> None:  # noqa: N802 - Qt's name
        super().initializeGL()
        self.initialized.emit()

    def event(self, ev) -> bool:
        if ev.type() in _DRAG_EVENTS and self.drop_target is not None:
            # a plain QWindow refuses drags; a widget passes one up to the first that accepts drops
            QApplication.sendEvent(self.drop_target, ev)
            return True
        if ev.type() == QEvent.Type.Paint and self.isExposed():
            # Qt sends a window a paint event at each expose and resize, and QOpenGLWindow draws a
            # frame for each, then and there: a view being shown drew three or four frames in one
            # turn of the event loop. An update request instead draws one frame, a turn later,
            # for all the paint events and updates before it.
            self.update()
            return True
        if ev.type() == QEvent.Type.UpdateRequest:
            if turn_budget.over():   # this turn has drawn enough (turn_budget.py): the frame waits
                self.requestUpdate()
                return True
            with turn_budget.drawing():
                return super().event(ev)
        return super().event(ev)

    def grabFramebuffer(self, size: QSize | None = None) -> QImage:  # noqa: N802 - Qt's name
        """The view as it is now, drawn afresh: QOpenGLWindow's own grab reads whatever the back
        buffer holds (undefined after a swap). A window never shown has no GL context yet (a view
        on a page not opened): it is drawn off screen instead, at ``size`` (its own if None)."""
        if not self.isValid():
            return self._grab_off_screen(size if size is not None else self.size())
        self.makeCurrent()
        try:
            self._draw()
            return super().grabFramebuffer()
        finally:
            self.doneCurrent()

    def render_now(self, timeout_ms: int = 10_000) -> None:
        """Ask for a frame and return once Qt has drawn and presented it (what QWidget.repaint does
        for a widget; a benchmark times it). Drawing it by hand would leave the update that
        ``orbit`` and ``setData`` ask for pending, and the event loop would draw it again."""
        if not self.isExposed():
            return
        loop = QEventLoop()
        self.frameSwapped.connect(loop.quit)
        QTimer.singleShot(timeout_ms, loop.quit)
        self.update()
        loop.exec()
        self.frameSwapped.disconnect(loop.quit)

    def _draw(self) -> None:
        GL.glViewport(0, 0, self.deviceWidth(), self.deviceHeight())   # what Qt sets before paintGL
        self.paintGL()

    def _grab_off_screen(self, size: QSize) -> QImage:
        """The same items from the same camera, drawn by a hidden GLViewWidget that is its own top
        level (so no lab window switches to GL composition), then given back. The app shares GL
        contexts (AA_ShareOpenGLContexts): what the items create there stays valid here. Without
        that (a script of its own), nothing is drawn: a null image, whose export says so."""
        if not QCoreApplication.testAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts):
            return QImage()
        import pyqtgraph.opengl as gl

        mirror = gl.GLViewWidget()
        mirror.resize(size if not size.isEmpty() else QSize(640, 480))
        mirror.opts.update(self.opts)
        items, mirror.items = list(self.items), list(self.items)
        for item in items:
            item._setView(mirror)
        try:
            return mirror.grabFramebuffer()
        finally:
            mirror.items = []
            for item in items:
                item._setView(self)
            mirror.deleteLater()


class GLViewFallback(GLViewWidget):
    """The same API on pyqtgraph's own QOpenGLWidget, for a platform without OpenGL windows (Qt's
    "offscreen" platform, which the tests use): there a QOpenGLWindow crashes at its first paint,
    while a QOpenGLWidget just draws nothing, and with no GL there is no composition to avoid."""

    initialized = Signal()

    def initializeGL(self) -> None:  # noqa: N802 - Qt's name
        super().initializeGL()
        self.initialized.emit()

    def grabFramebuffer(self, size: QSize | None = None) -> QImage:  # noqa: N802 - Qt's name
        return super().grabFramebuffer()

    def render_now(self) -> None:
        self.repaint()


@functools.cache
def native_gl_windows() -> bool:
    """Whether this platform gives OpenGL windows a context (not Qt's offscreen or minimal ones)."""
    if QGuiApplication.platformName() in ("offscreen", "minimal"):
        return False
    shared = QOpenGLContext.globalShareContext()   # made with the application under AA_ShareOpenGLContexts
    if shared is not None:
        return shared.isValid()
    return QOpenGLContext().create()   # else make a context of its own to find out (slower)


#: The window containers that Qt has not deleted yet. A top-level widget still alive when the
#: application ends is torn down by Qt and PySide without being deleted first, and in that order a
#: window container reads its window after it is gone (a crash at exit, seen with the app's
#: --quit-after and in scripts that keep a view to the end). ``_delete_gl_top_levels`` deletes every
#: top-level widget that holds one, whole, before that teardown.
_containers: set = set()


@atexit.register   # atexit runs last-in first-out: before PySide's own teardown, registered earlier
def _delete_gl_top_levels() -> None:
    tops = [c.window() for c in list(_containers) if Shiboken.isValid(c)]
    _containers.clear()
    for top in tops:
        if Shiboken.isValid(top):   # two views in one window: deleted with the first
            Shiboken.delete(top)


class GLHost(QWidget):
    """A widget that shows a ``GLViewWindow`` (``self.gl``) inside the widget tree, in
    ``self.container`` (a ``GLViewFallback``, both in one, where the platform has no OpenGL
    windows); ``grab_framebuffer`` is what the view shows."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(GL_HOST)   # found by export.grab_widget without importing OpenGL there
        if native_gl_windows():
            self.gl = GLViewWindow()
            self.container = QWidget.createWindowContainer(self.gl, self)
            self.gl.drop_target = self   # the container fills it: the same coordinates
            _containers.add(self.container)
            self.container.destroyed.connect(functools.partial(_containers.discard, self.container))
        else:
            self.gl = self.container = GLViewFallback(self)
        self.container.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.container.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.container.setMinimumSize(64, 64)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.container)

    def grab_framebuffer(self) -> QImage:
        return self.gl.grabFramebuffer(self.container.size())
