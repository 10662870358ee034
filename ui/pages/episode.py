"""The detail of one episode, shown beside the day's list in the timeline: its frames (thumbnails
with times), what was said (the decrypted transcript with time and speaker), who and what was
seen, and playback of the original file when it is still where it was imported from (or kept).

Playback in place: Qt's own player (QMediaPlayer + a QVideoWidget inside the panel) with real
controls — play/pause, a seek slider over the file, speed 0.5×/1×/2× and a time label on the
memory's clock — starting at the moment the episode was opened at. When QtMultimedia cannot
load on this machine (e.g. a Linux without libpulse) the file is handed to the system's default
player through QDesktopServices, which cannot seek: the panel says so once, the first time.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lifelog.api import EpisodeInfo, EpisodeMedia, FrameInfo, UtteranceInfo
from lifelog.api.clock import Clock
from ui.context import AppContext
from ui.qt import (
    QAbstractItemView,
    QComboBox,
    QDesktopServices,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPixmap,
    QPushButton,
    QSize,
    QSlider,
    Qt,
    QUrl,
    QVBoxLayout,
    QWidget,
    multimedia,
)
from ui.widgets import THUMB_SIZE, Thumbs, guarded, heading, muted, names


@dataclass(frozen=True)
class EpisodeDetail:
    """Everything the panel shows, read off the UI thread in one go."""

    episode: EpisodeInfo
    frames: list[FrameInfo]
    transcript: list[UtteranceInfo]
    media: EpisodeMedia | None


def load_detail(ctx: AppContext, episode_id: str) -> EpisodeDetail | None:
    mem = ctx.memory
    ep = mem.episode(episode_id)
    if ep is None:
        return None
    people = mem.episodes_between(ep.start, ep.end)
    found = next((e for e in people if e.id == ep.id), None)
    if found is not None:
        ep = found  # carries the names of the people seen
    return EpisodeDetail(ep, mem.episode_frames(episode_id), mem.episode_transcript(episode_id),
                         mem.episode_media(episode_id, decrypt=False))  # decrypted only to play


SPEEDS = (0.5, 1.0, 2.0)
FALLBACK_NOTE = ("Qt's media playback cannot load on this machine (on Linux it needs libpulse), "
                 "so clips open in your system player, which cannot seek or change speed here.")


@functools.cache
def _qt_media() -> tuple[Any, Any] | None:
    """QtMultimedia once per process: a failed load is not retried on every click."""
    return multimedia()


def start_ms(media: EpisodeMedia, episode: EpisodeInfo, moment: datetime | None) -> int:
    """Where in the file playback starts: the moment's time (within the episode), else its start."""
    into = 0.0
    if moment is not None:
        length = max((episode.end - episode.start).total_seconds(), 0.0)
        into = min(max((moment - episode.start).total_seconds(), 0.0), length)
    return round((media.offset_s + into) * 1000)


def nearest_frame(frames: list[FrameInfo], moment: datetime) -> int:
    """Index of the frame closest in time to ``moment`` (-1 when there are none)."""
    if not frames:
        return -1
    return min(range(len(frames)), key=lambda i: abs((frames[i].t - moment).total_seconds()))


class EpisodePanel(QWidget):
    def __init__(self, ctx: AppContext, thumbs: Thumbs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.thumbs = thumbs
        self.episode_id: str | None = None
        self.detail: EpisodeDetail | None = None
        self.highlighted_frame = -1
        self._token = 0
        self.moment: datetime | None = None
        self.player: Any = None  # a QMediaPlayer, made at the first play where QtMultimedia loads
        self.video: Any = None  # its QVideoWidget, inside this panel
        self._audio: Any = None
        self._loaded: str | None = None  # the file the player has loaded
        self._pending_ms: int | None = None  # a seek waiting for the media to load
        self.fallback_told = False  # the system-player fallback is explained once, not per click
        self._syncing = False

        self.title = heading("No episode open")
        self.summary = QLabel("Pick an episode of the day to see its frames, what was said and who was there.")
        self.summary.setWordWrap(True)
        self.people_label = QLabel("")
        self.people_label.setWordWrap(True)
        self.objects_label = QLabel("")
        self.objects_label.setWordWrap(True)
        self.play = QPushButton("▶ Play clip")
        self.play.setEnabled(False)
        self.play.clicked.connect(self.play_clip)
        self.play_note = muted("")
        self.play_note.setWordWrap(True)
        self.seek = QSlider(Qt.Orientation.Horizontal)
        self.seek.setToolTip("Seek within the clip")
        self.seek.setEnabled(False)
        self.seek.valueChanged.connect(self._seeked)
        self.speed = QComboBox()
        for rate in SPEEDS:
            self.speed.addItem(f"{rate:g}×", rate)
        self.speed.setCurrentIndex(SPEEDS.index(1.0))
        self.speed.setToolTip("Playback speed")
        self.speed.setEnabled(False)
        self.speed.currentIndexChanged.connect(self._speed_changed)
        self.time_label = muted("")
        self.time_label.setMinimumWidth(150)
        self.video_box = QVBoxLayout()  # the video appears here when Qt's player plays in place
        controls = QHBoxLayout()
        controls.addWidget(self.seek, 1)
        controls.addWidget(self.time_label)
        controls.addWidget(self.speed)
        self.forget_btn = QPushButton("Forget…")
        self.forget_btn.setToolTip("Forget this episode for good: its frames, faces, words and thumbnails")
        self.forget_btn.setEnabled(False)  # the timeline wires it (TimelinePage.forget_episode)
        self.trash_btn = QPushButton("Move to trash")
        self.trash_btn.setToolTip("Delete this episode: it goes to the trash, where it can be restored for a while")
        self.trash_btn.setEnabled(False)  # the timeline wires it (TimelinePage.trash_episode)
        play_row = QHBoxLayout()
        play_row.addWidget(self.play)
        play_row.addWidget(self.play_note, 1)
        play_row.addWidget(self.trash_btn)
        play_row.addWidget(self.forget_btn)

        self.frames = QListWidget()
        self.frames.setViewMode(QListView.ViewMode.IconMode)
        self.frames.setIconSize(QSize(THUMB_SIZE.width(), THUMB_SIZE.height()))
        self.frames.setResizeMode(QListView.ResizeMode.Adjust)
        self.frames.setMovement(QListView.Movement.Static)
        self.frames.setGridSize(QSize(THUMB_SIZE.width() + 12, THUMB_SIZE.height() + 28))
        self.frames.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.frames_label = muted("")
        self.transcript_label = muted("")
        self.transcript = QListWidget()
        self.transcript.setWordWrap(True)

        lay = QVBoxLayout(self)
        lay.addWidget(self.title)
        lay.addWidget(self.summary)
        lay.addWidget(self.people_label)
        lay.addWidget(self.objects_label)
        lay.addLayout(play_row)
        lay.addLayout(self.video_box)
        lay.addLayout(controls)
        lay.addWidget(self.frames_label)
        lay.addWidget(self.frames, 3)
        lay.addWidget(self.transcript_label)
        lay.addWidget(self.transcript, 1)
        self._clear_lists()

    # ------------------------------------------------------------------ load
    def show_episode(self, episode_id: str, moment: datetime | None = None) -> None:
        """Open an episode; with ``moment``, the frame nearest that time is highlighted."""
        self._token += 1
        token = self._token
        self.episode_id = episode_id
        self.detail = None
        self.moment = moment
        self.forget_btn.setEnabled(False)  # until this episode's detail is read
        self.trash_btn.setEnabled(False)
        self.title.setText("Opening episode…")
        ctx = self.ctx

        def done(detail: EpisodeDetail | None) -> None:
            if token == self._token:
                self._render(detail, moment)

        def failed(msg: str) -> None:
            if token == self._token:
                self.title.setText("Could not open this episode")
                self.summary.setText(msg)

        ctx.tasks.read(lambda: load_detail(ctx, episode_id), guarded(self, done), guarded(self, failed))

    def clear(self) -> None:
        self._token += 1
        self.episode_id = None
        self.detail = None
        self.moment = None
        self.title.setText("No episode open")
        self.summary.setText("")
        self.people_label.setText("")
        self.objects_label.setText("")
        self._clear_lists()

    def _clear_lists(self) -> None:
        self.frames.clear()
        self.transcript.clear()
        self.frames_label.setText("")
        self.transcript_label.setText("")
        self.transcript.setVisible(False)
        self._stop_player()
        self.play.setEnabled(False)
        self.play.setToolTip("")
        self.play_note.setText("")
        self.seek.setEnabled(False)
        self.speed.setEnabled(False)
        self.time_label.setText("")
        self.forget_btn.setEnabled(False)
        self.trash_btn.setEnabled(False)
        self.highlighted_frame = -1

    def _render(self, detail: EpisodeDetail | None, moment: datetime | None) -> None:
        self._clear_lists()
        self.detail = detail
        if detail is None:
            self.title.setText("This episode is no longer in the memory")
            self.summary.setText("It may have been forgotten or re-imported.")
            return
        ep = detail.episode
        self.forget_btn.setEnabled(True)
        self.trash_btn.setEnabled(True)
        clock = Clock.of(self.ctx.memory)  # every time on the memory's clock (lifelog.api.clock)
        self.title.setText(f"{clock.day_title_of(ep.start)}, {clock.span(ep.start, ep.end)}")
        self.summary.setText(ep.description or ep.summary or "(no description)")
        self.people_label.setText(f"<b>People:</b> {names(ep.people, 'nobody recognised')}")
        things = ep.objects or ep.labels[:5]
        self.objects_label.setText(f"<b>Objects:</b> {names(things, 'none recognised')}")

        n = len(detail.frames)
        self.frames_label.setText(f"{n} frame{'s' if n != 1 else ''}")
        for i, f in enumerate(detail.frames):
            item = QListWidgetItem(clock.time(f.t, seconds=True))
            item.setToolTip(", ".join(f.labels))
            item.setData(Qt.ItemDataRole.UserRole, f.id)
            self.frames.addItem(item)
            self.thumbs.request(f.thumb_id, self._icon_setter(self._token, i))
        if moment is not None and detail.frames:
            self.highlighted_frame = nearest_frame(detail.frames, moment)
            self.frames.setCurrentRow(self.highlighted_frame)
            current = self.frames.currentItem()
            if current is not None:
                self.frames.scrollToItem(current)

        if detail.transcript:
            self.transcript_label.setText("What was said")
            self.transcript.setVisible(True)
            for u in detail.transcript:
                who = u.speaker or (f"person {u.speaker_id}" if u.speaker_id else "speaker unknown")
                self.transcript.addItem(QListWidgetItem(f"{clock.time(u.start, seconds=True)}  {who}: {u.text}"))
        else:
            self.transcript_label.setText("Nothing said was transcribed in this episode.")
        self._render_play(detail.media)
        self._prepare_controls(detail)

    def _icon_setter(self, token: int, row: int) -> _SetIcon:
        return _SetIcon(self, token, row)

    def _render_play(self, media: EpisodeMedia | None) -> None:
        if media is None:
            self.play.setEnabled(False)
            self.play_note.setText("The original file of this episode is not known.")
        elif not media.exists:
            self.play.setEnabled(False)
            self.play_note.setText(f"The original file is gone from {media.path}; only the index was kept.")
        else:
            self.play.setEnabled(True)
            self.play.setText("▶ Play clip" if media.kind != "photo" else "Open photo")
            where = f" from {_clock(media.offset_s)}" if media.offset_s >= 1 else ""
            self.play_note.setText(f"{media.path.name}{where}")
        self.play.setToolTip(self.play_note.text())
        if media is None or not media.exists:  # nothing to seek in: the line beside says why
            self.seek.setEnabled(False)
            self.speed.setEnabled(False)
            self.seek.setToolTip(self.play_note.text())
            self.time_label.setText("")

    def _prepare_controls(self, detail: EpisodeDetail) -> None:
        """Seek slider over the file, at the moment's time; speed and time label ready."""
        media = detail.media
        if media is None or not media.exists or media.kind == "photo":
            return
        inside = _qt_media() is not None
        self.seek.setEnabled(inside)
        self.speed.setEnabled(inside)
        why = "" if inside else " — " + FALLBACK_NOTE
        self.seek.setToolTip("Seek within the clip" + why)
        self.speed.setToolTip("Playback speed" + why)
        begin = start_ms(media, detail.episode, self.moment)
        end = start_ms(media, detail.episode, detail.episode.end)
        self._syncing = True
        self.seek.setRange(0, max(end, begin, 1000))
        self.seek.setValue(begin)
        self._syncing = False
        self._show_time(begin)

    def _show_time(self, ms: int) -> None:
        detail = self.detail
        if detail is None or detail.media is None:
            self.time_label.setText("")
            return
        clock = Clock.of(self.ctx.memory)
        at = detail.episode.start + timedelta(milliseconds=ms) - timedelta(seconds=detail.media.offset_s)
        self.time_label.setText(f"{clock.time(at, seconds=True)}  ({_clock(ms / 1000)} / "
                                f"{_clock(self.seek.maximum() / 1000)})")

    def _seeked(self, ms: int) -> None:
        self._show_time(ms)
        if self._syncing:
            return
        if self.player is not None and self._loaded is not None and self._pending_ms is None:
            self.player.setPosition(ms)
        elif self._pending_ms is not None:
            self._pending_ms = ms

    def _speed_changed(self, _index: int) -> None:
        if self.player is not None:
            self.player.setPlaybackRate(self.rate())

    def rate(self) -> float:
        """The chosen playback speed (0.5, 1 or 2)."""
        return float(self.speed.currentData())

    def is_playing(self) -> bool:
        if self.player is None:
            return False
        return bool(self.player.playbackState() == self._qtm().QMediaPlayer.PlaybackState.PlayingState)

    # ------------------------------------------------------------------ play
    def play_clip(self) -> None:
        detail = self.detail
        if detail is None or detail.media is None or not detail.media.exists:
            return
        if self.player is not None and self._loaded is not None:  # the clip is loaded: play/pause
            if self.is_playing():
                self.player.pause()
            else:
                self.player.play()
            return
        media = detail.media
        if media.sealed:  # a kept copy: decrypt it (off the UI thread), then play
            episode_id, memory, token = detail.episode.id, self.ctx.memory, self._token
            self.play.setEnabled(False)
            self.play_note.setText("Decrypting the kept copy…")

            def opened(m: EpisodeMedia | None) -> None:
                if token != self._token:
                    return  # another episode was opened meanwhile
                self.play.setEnabled(True)
                if m is None or not m.exists:
                    self.play_note.setText("The kept copy could not be decrypted (damaged, or no room).")
                    return
                self._render_play(m)
                self._open(m)

            self.ctx.tasks.read(lambda: memory.episode_media(episode_id, decrypt=True), guarded(self, opened))
            return
        self._open(media)

    def _open(self, media: EpisodeMedia) -> None:
        mm = _qt_media() if media.kind in ("video", "audio") else None
        if mm is not None:
            self._play_inside(mm, media)
            return
        opened = QDesktopServices.openUrl(QUrl.fromLocalFile(str(media.path)))
        if not opened:
            said = f"No program on this machine could open {media.path.name}."
        elif media.kind != "photo" and media.offset_s >= 1:
            said = f"Opened {media.path.name} in your player; the episode starts at {_clock(media.offset_s)}."
        else:
            said = f"Opened {media.path.name}."
        if media.kind != "photo" and not self.fallback_told:  # why it is not playing here: once
            self.fallback_told = True
            self.play_note.setText(FALLBACK_NOTE)
            said = f"{FALLBACK_NOTE} {said}"
        self.ctx.status(said)

    def _qtm(self) -> Any:
        mm = _qt_media()
        assert mm is not None
        return mm[0]

    def _play_inside(self, mm: tuple[Any, Any], media: EpisodeMedia) -> None:
        qtm, qtmw = mm
        if self.player is None:
            self.video = qtmw.QVideoWidget(self)
            self.video.setMinimumHeight(200)
            self.video_box.addWidget(self.video)
            self.player = qtm.QMediaPlayer(self)
            self._audio = qtm.QAudioOutput(self)
            self.player.setAudioOutput(self._audio)
            self.player.setVideoOutput(self.video)
            self.player.positionChanged.connect(self._on_position)
            self.player.durationChanged.connect(self._on_duration)
            self.player.playbackStateChanged.connect(self._on_state)
            self.player.mediaStatusChanged.connect(self._on_status)
            self.player.errorOccurred.connect(self._on_error)
        self.video.setVisible(media.kind == "video")
        self.player.setPlaybackRate(self.rate())
        self._loaded = str(media.path)
        self._pending_ms = self.seek.value()  # applied once the file is loaded, then it plays
        self.player.setSource(QUrl.fromLocalFile(self._loaded))

    def _on_status(self, status: Any) -> None:
        st = self._qtm().QMediaPlayer.MediaStatus
        if status in (st.LoadedMedia, st.BufferedMedia) and self._pending_ms is not None:
            at, self._pending_ms = self._pending_ms, None
            self.player.setPosition(at)
            self.player.setPlaybackRate(self.rate())
            self.player.play()
        elif status == st.InvalidMedia:
            self._pending_ms = None
            self.play_note.setText(f"This file cannot be played here: {self.player.errorString()}")

    def _on_position(self, ms: int) -> None:
        if self._pending_ms is not None or self.seek.isSliderDown():
            return  # still loading (the seek is pending) or the user is dragging
        self._syncing = True
        self.seek.setValue(ms)
        self._syncing = False
        self._show_time(ms)

    def _on_duration(self, ms: int) -> None:
        if ms > 0:
            self._syncing = True
            self.seek.setMaximum(ms)
            self._syncing = False

    def _on_state(self, state: Any) -> None:
        playing = state == self._qtm().QMediaPlayer.PlaybackState.PlayingState
        self.play.setText("❚❚ Pause" if playing else "▶ Play clip")

    def _on_error(self, _error: Any, message: str) -> None:
        self.play_note.setText(f"Playback failed: {message}")

    def _stop_player(self) -> None:
        """Stop and unload (another episode opens, or this one went away)."""
        self._loaded = None
        self._pending_ms = None
        if self.player is not None:
            self.player.stop()
            self.player.setSource(QUrl())
        if self.video is not None:
            self.video.setVisible(False)
        self.play.setText("▶ Play clip")


class _SetIcon:
    """Puts a thumbnail on a frame item if the panel still shows the same episode."""

    def __init__(self, panel: EpisodePanel, token: int, row: int) -> None:
        self.panel, self.token, self.row = panel, token, row

    def __call__(self, pm: QPixmap) -> None:
        if self.token != self.panel._token:
            return
        item = self.panel.frames.item(self.row)
        if item is not None:
            item.setIcon(pm)


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
