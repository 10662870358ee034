"""Qt through one door: every ui module imports Qt names from here (one place to adapt)."""

from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, QTimer, Signal, Slot
from PySide6.QtGui import QIcon, QImage, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QSplitter,
    QStatusBar,
    QVBoxLayout,
    QWidget,
)

__all__ = [
    "QApplication",
    "QIcon",
    "QImage",
    "QKeySequence",
    "QLabel",
    "QLineEdit",
    "QListWidget",
    "QListWidgetItem",
    "QMainWindow",
    "QObject",
    "QPixmap",
    "QRunnable",
    "QShortcut",
    "QSplitter",
    "QStatusBar",
    "QThreadPool",
    "QTimer",
    "QVBoxLayout",
    "QWidget",
    "Qt",
    "Signal",
    "Slot",
]

# Names used by the import queue, the welcome and the settings pages.
from PySide6.QtCore import QElapsedTimer, QMimeData, QUrl
from PySide6.QtGui import QCloseEvent, QDesktopServices, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
)

__all__ += [
    "QCheckBox",
    "QCloseEvent",
    "QComboBox",
    "QDesktopServices",
    "QDragEnterEvent",
    "QDropEvent",
    "QElapsedTimer",
    "QFileDialog",
    "QFormLayout",
    "QGroupBox",
    "QHBoxLayout",
    "QMessageBox",
    "QMimeData",
    "QProgressBar",
    "QPushButton",
    "QScrollArea",
    "QUrl",
]

# Names used by the shell (ui/app.py) and the browsing pages (timeline, episode, ask, people).
from PySide6.QtCore import QDate, QEvent, QSize  # noqa: E402
from PySide6.QtGui import QAction, QBrush, QColor, QFont, QPainter, QTextCharFormat  # noqa: E402
from PySide6.QtWidgets import (  # noqa: E402
    QAbstractItemView,
    QCalendarWidget,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QInputDialog,
    QListView,
    QSizePolicy,
    QStackedWidget,
)


def multimedia() -> tuple[Any, Any] | None:
    """``(QtMultimedia, QtMultimediaWidgets)`` when Qt's media playback loads on this machine,
    else None (e.g. a Linux without libpulse): callers then hand the file to the OS player."""
    try:
        from PySide6 import QtMultimedia, QtMultimediaWidgets
    except ImportError:
        return None
    return QtMultimedia, QtMultimediaWidgets


__all__ += [
    "QAbstractItemView",
    "QAction",
    "QBrush",
    "QCalendarWidget",
    "QColor",
    "QDate",
    "QDialog",
    "QDialogButtonBox",
    "QEvent",
    "QFont",
    "QFrame",
    "QInputDialog",
    "QListView",
    "QPainter",
    "QSize",
    "QSizePolicy",
    "QStackedWidget",
    "QTextCharFormat",
    "multimedia",
]


def is_alive(obj: object) -> bool:
    """False once the C++ side of a Qt object was deleted (a closed window's widgets): a late
    task result must not touch it."""
    from shiboken6 import isValid

    return bool(isValid(obj))


__all__ += ["is_alive"]

# Names used by the timeline's filter bar (a person or an object).
from PySide6.QtWidgets import QCompleter  # noqa: E402

__all__ += ["QCompleter"]

# Names used by File ▸ Export memory… (its date range).
from PySide6.QtWidgets import QDateEdit  # noqa: E402

__all__ += ["QDateEdit"]

# Names used by the Profile, Memory upkeep and Connected apps pages (issues #14, #17).
from PySide6.QtWidgets import (  # noqa: E402
    QPlainTextEdit,
    QSpinBox,
    QTabWidget,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
)

__all__ += ["QPlainTextEdit", "QSpinBox", "QTabWidget", "QTextBrowser", "QTreeWidget", "QTreeWidgetItem"]

# Names used by the visual timeline (ui/timeline: the moment grid and the scrub bars, issue #19).
from PySide6.QtCore import QPoint, QPointF, QRect, QRectF  # noqa: E402
from PySide6.QtGui import (  # noqa: E402
    QFontMetrics,
    QKeyEvent,
    QMouseEvent,
    QPainterPath,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QAbstractScrollArea  # noqa: E402

__all__ += [
    "QAbstractScrollArea",
    "QFontMetrics",
    "QKeyEvent",
    "QMouseEvent",
    "QPaintEvent",
    "QPainterPath",
    "QPen",
    "QPoint",
    "QPointF",
    "QRect",
    "QRectF",
    "QResizeEvent",
    "QWheelEvent",
]


def _pin_none() -> None:
    """Make ``None`` immortal on Python < 3.12, as it is from 3.12 on.

    shiboken6 6.12 returns ``None`` from void C++ methods (``QPainter.drawRect``, ``setBrush``,
    ``QLabel.setText``…) without a new reference: fine where ``None`` is immortal (3.12+), but on
    3.11 every such call takes one reference from ``None`` for good, and a few thousand painter
    calls abort the process ("Fatal Python error: none_dealloc"). Hand-painted widgets (the
    timeline's grid and scrub bars, issue #19) make hundreds of such calls per frame. Giving
    ``None`` an enormous reference count is exactly the 3.12 behaviour the bindings assume."""
    import ctypes
    import sys

    if sys.version_info < (3, 12):
        ctypes.c_ssize_t.from_address(id(None)).value += 1 << 40


_pin_none()

# Names used by playback in place on the episode page (issue #19 item 4).
from PySide6.QtWidgets import QSlider  # noqa: E402

__all__ += ["QSlider"]

# Names used by the tray, bringing the first window to the front and the Settings wheel guard (issue #18).
from PySide6.QtNetwork import QLocalServer, QLocalSocket  # noqa: E402
from PySide6.QtWidgets import QAbstractSpinBox, QMenu, QSystemTrayIcon  # noqa: E402

__all__ += ["QAbstractSpinBox", "QLocalServer", "QLocalSocket", "QMenu", "QSystemTrayIcon"]


# ---------------------------------------------------------------- start-up: PySide's import hook
def _trim_feature_hook() -> bool:
    """PySide6 replaces ``__import__`` to support ``from __feature__ import snake_case``; after
    every import it asks whether the new module "uses PySide" by reading and scanning the module's
    **source** (``inspect.getsource``): a quarter of the CPU time of importing the core after Qt
    (LanceDB, pyarrow, pandas, pydantic: ~0.25 s of ~1 s; issue #18, measured with py-spy; the
    same tax is reported by napari, issue #8584). The answer only matters to a module that
    selects a feature; lifelog selects none (``tests/test_startup_app.py`` pins that), and the
    core never imports Qt (``tests/test_architecture.py``). So the source is read only for the
    app's own modules (``ui…``, ``__main__``), as before; any other module is marked "ignores
    features" without reading its file, which for a process where no feature is ever selected
    is what PySide does for it anyway. Returns whether the hook was found (a PySide upgrade that
    moves it leaves imports as they were: slower, never wrong)."""
    import sys

    feature = sys.modules.get("shibokensupport.feature")
    original = getattr(feature, "_mod_uses_pyside", None)
    if feature is None or not callable(original) or getattr(original, "__lifelog_trimmed__", False):
        return bool(original is not None and getattr(original, "__lifelog_trimmed__", False))

    def uses_pyside(module: Any) -> bool:
        name = str(getattr(module, "__name__", ""))
        if name == "__main__" or name == "ui" or name.startswith("ui."):
            return bool(original(module))
        return False

    uses_pyside.__lifelog_trimmed__ = True  # type: ignore[attr-defined]
    feature._mod_uses_pyside = uses_pyside  # type: ignore[attr-defined]
    return True


FEATURE_HOOK_TRIMMED = _trim_feature_hook()
