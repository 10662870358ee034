"""Render ``assets/icons/lifelog.svg`` to the PNG sizes a Linux desktop (hicolor theme), the
macOS .icns and the Windows .ico recipes use: ``assets/icons/lifelog-<N>.png``.

Run with the runtime environment (Qt's SVG renderer, offscreen)::

    QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/make_icons.py

The PNGs are committed, so a package build needs no renderer; rerun after editing the SVG.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICONS = Path(__file__).resolve().parent.parent / "assets" / "icons"


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication(sys.argv[:1])  # noqa: F841 - Qt needs the application object to paint
    renderer = QSvgRenderer(str(ICONS / "lifelog.svg"))
    if not renderer.isValid():
        print("make_icons: lifelog.svg is not a valid SVG", file=sys.stderr)
        return 1
    for n in SIZES:
        img = QImage(n, n, QImage.Format.Format_ARGB32)
        img.fill(Qt.GlobalColor.transparent)
        painter = QPainter(img)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        out = ICONS / f"lifelog-{n}.png"
        if not img.save(str(out)):
            print(f"make_icons: could not write {out}", file=sys.stderr)
            return 1
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
