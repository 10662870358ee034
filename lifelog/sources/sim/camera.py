"""A simulated webcam: real footage decoded frame by frame, behind the same protocol as the
OpenCV camera (:class:`lifelog.sources.webcam.FrameSource`).

Frames carry capture times ``start + i / fps``. With ``realtime=True`` ``read`` also waits for
each frame's moment like a real camera; otherwise it returns at once (tests run on this
virtual clock, so they do not depend on the machine's speed). ``unplug_after`` makes the camera
vanish after that many frames (``read`` returns None), as an unplugged USB camera does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from lifelog.sources.webcam import Frame


class SimCamera:
    def __init__(
        self,
        footage: Path,
        start: datetime,
        *,
        fps: float = 10.0,
        size: tuple[int, int] = (320, 240),
        realtime: bool = False,
        unplug_after: int | None = None,
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self.footage = Path(footage)
        self.start = start
        self.fps = fps
        self.size = size
        self.realtime = realtime
        self.unplug_after = unplug_after
        self.label = f"Simulated camera ({self.footage.name})"
        self.device_key = f"sim:{self.footage.name}"
        self.frames_read = 0
        self._frames = self._decode()
        self._t0 = time.monotonic()
        self.closed = False

    def _decode(self) -> Iterator[Any]:
        import av

        while True:  # loop the footage, as long as the recording lasts
            n = 0
            with av.open(str(self.footage)) as c:
                for f in c.decode(video=0):
                    n += 1
                    yield f.to_ndarray(format="rgb24", width=self.size[0], height=self.size[1])
            if n == 0:
                return

    def read(self) -> Frame | None:
        if self.closed or (self.unplug_after is not None and self.frames_read >= self.unplug_after):
            return None
        img = next(self._frames, None)
        if img is None:
            return None
        i = self.frames_read
        self.frames_read += 1
        if self.realtime:
            due = self._t0 + i / self.fps
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        return Frame(img, self.start + timedelta(seconds=i / self.fps))

    def close(self) -> None:
        self.closed = True
