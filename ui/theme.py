"""The app's look in one place: the palette (light and dark), the timeline's accent colours, spacing
and typography, and a small stylesheet.

:func:`apply` sets it on the application at start (``ui.app.main``). By default it follows the
system (Qt 6.5+ ``QStyleHints.colorScheme()``; a change of the system's scheme while the app runs
switches it too); ``LIFELOG_THEME=light`` or ``dark`` in the environment picks one. The hand-painted
timeline widgets (:mod:`ui.timeline`) read their colours from :func:`current` while they paint, so
a switch shows at the next repaint.

Sizes are in font units (:func:`em`), never fixed pixels, so the layout scales with the system's
font and HiDPI factor (Qt scales painting by ``devicePixelRatio`` itself).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFontMetricsF, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QWidget

__all__ = ["DARK", "LIGHT", "SPACING", "Theme", "apply", "current", "em", "follow_system", "stylesheet"]


@dataclass(frozen=True)
class Theme:
    name: str  # "light" or "dark"
    window: QColor  # page background
    base: QColor  # lists, editors, the grid's background
    alt: QColor  # tiles and previews (alternate base)
    text: QColor
    muted: QColor  # secondary text
    accent: QColor  # the selection, the current moment, the scrub cursor
    footage: QColor  # where footage exists on the scrub bars
    empty: QColor  # a bar's track where there is none
    highlight_text: QColor

    def palette(self) -> QPalette:
        p = QPalette()
        roles = {
            QPalette.ColorRole.Window: self.window,
            QPalette.ColorRole.WindowText: self.text,
            QPalette.ColorRole.Base: self.base,
            QPalette.ColorRole.AlternateBase: self.alt,
            QPalette.ColorRole.Text: self.text,
            QPalette.ColorRole.Button: self.alt,
            QPalette.ColorRole.ButtonText: self.text,
            QPalette.ColorRole.ToolTipBase: self.base,
            QPalette.ColorRole.ToolTipText: self.text,
            QPalette.ColorRole.PlaceholderText: self.muted,
            QPalette.ColorRole.Highlight: self.accent,
            QPalette.ColorRole.HighlightedText: self.highlight_text,
            QPalette.ColorRole.Link: self.accent.darker(115) if self.name == "light" else self.accent,
            QPalette.ColorRole.BrightText: self.accent,
        }
        for role, colour in roles.items():
            p.setColor(role, colour)
        for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
            p.setColor(QPalette.ColorGroup.Disabled, role, self.muted)
        return p


LIGHT = Theme("light", window=QColor(246, 244, 240), base=QColor(255, 255, 255), alt=QColor(236, 232, 225),
              text=QColor(34, 32, 30), muted=QColor(112, 106, 98), accent=QColor(214, 128, 24),
              footage=QColor(70, 122, 186), empty=QColor(120, 114, 104, 40), highlight_text=QColor(255, 255, 255))
DARK = Theme("dark", window=QColor(30, 31, 34), base=QColor(22, 23, 25), alt=QColor(44, 46, 50),
             text=QColor(232, 230, 226), muted=QColor(150, 147, 142), accent=QColor(240, 164, 60),
             footage=QColor(104, 156, 220), empty=QColor(200, 200, 200, 34), highlight_text=QColor(20, 20, 20))

SPACING = 0.5  # the unit gap, in em (:func:`em`)
_current: Theme = LIGHT
_following = False


def current() -> Theme:
    """The theme in use (light until :func:`apply` is called)."""
    return _current


def em(widget: QWidget | None = None, k: float = 1.0) -> int:
    """``k`` times the height of the widget's font (the application's without one), in logical
    pixels: the unit for spacing and sizes, so they grow with the font and the HiDPI scale."""
    font = widget.font() if widget is not None else QApplication.font()
    return max(1, round(QFontMetricsF(font).height() * k))


def stylesheet(t: Theme) -> str:
    """A small stylesheet for what a palette cannot say: rounded tiles, quieter lines, padding."""
    pad = em(None, SPACING)
    return (
        f"QListView, QTreeView, QTextBrowser, QPlainTextEdit, QLineEdit {{ border: 1px solid {t.alt.name()};"
        f" border-radius: {pad}px; }}\n"
        f"QLineEdit {{ padding: {pad // 2}px {pad}px; }}\n"
        f"QPushButton {{ padding: {pad // 2}px {pad * 2}px; border-radius: {pad}px;"
        f" border: 1px solid {t.muted.name()}; background: {t.alt.name()}; }}\n"
        f"QPushButton:hover {{ border-color: {t.accent.name()}; }}\n"
        f"QPushButton:disabled {{ color: {t.muted.name()}; border-color: {t.alt.name()}; }}\n"
        f"QListView::item:selected {{ background: {t.accent.name()}; color: {t.highlight_text.name()};"
        f" border-radius: {pad}px; }}\n"
        f"QStatusBar {{ color: {t.muted.name()}; }}\n"
    )


def system_scheme() -> str:
    """"dark" or "light" as the system says (light when it says nothing)."""
    hints = QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", None)  # Qt 6.5+
    if callable(scheme) and scheme() == Qt.ColorScheme.Dark:
        return "dark"
    return "light"


def apply(app: QApplication, scheme: str | None = None) -> Theme:
    """Set the palette, font-scaled stylesheet and timeline colours of ``scheme`` ("light",
    "dark"; None: ``LIFELOG_THEME``, else the system's) on ``app``, and repaint its windows."""
    global _current
    wanted = scheme or os.environ.get("LIFELOG_THEME", "").strip().lower() or "system"
    if wanted not in ("light", "dark"):
        wanted = system_scheme()
    _current = DARK if wanted == "dark" else LIGHT
    app.setStyle("Fusion")  # the same widgets everywhere; it honours the palette fully
    app.setPalette(_current.palette())
    app.setStyleSheet(stylesheet(_current))
    for w in app.topLevelWidgets():
        w.update()
    return _current


def follow_system(app: QApplication) -> None:
    """Apply the system's scheme now and again whenever it changes (unless ``LIFELOG_THEME``
    picks one)."""
    global _following
    apply(app)
    hints = QGuiApplication.styleHints()
    changed = getattr(hints, "colorSchemeChanged", None)
    if changed is not None and not _following:
        _following = True
        changed.connect(lambda _scheme: apply(app))
