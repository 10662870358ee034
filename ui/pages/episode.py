"""The detail of one episode, shown beside the day's list in the timeline: its frames (thumbnails
with times), what was said (the decrypted transcript with time and speaker), who and what was
seen, and "Play clip" for the original file when it is still where it was imported from.

Playback: Qt's own player (QMediaPlayer + QVideoWidget, seeking to the episode's start) when
QtMultimedia loads on this machine; otherwise the file is handed to the system's default player
through QDesktopServices (which cannot seek: the status bar says where the episode starts).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from lifelog.api import EpisodeInfo, EpisodeMedia, FrameInfo, UtteranceInfo
from lifelog.api.clock import Clock
from ui.context import AppContext
from ui.qt import (
    QAbstractItemView,
    QDesktopServices,
    QDialog,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPixmap,
    QPushButton,
    QSize,
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
        self._player: QDialog | None = None

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
        self.play.setEnabled(False)
        self.play.setToolTip("")
        self.play_note.setText("")
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

    # ------------------------------------------------------------------ play
    def play_clip(self) -> None:
        detail = self.detail
        if detail is None or detail.media is None or not detail.media.exists:
            return
        media = detail.media
        if media.sealed:  # a kept copy: decrypt it (off the UI thread), then play
            episode_id, memory = detail.episode.id, self.ctx.memory
            self.play.setEnabled(False)
            self.play_note.setText("Decrypting the kept copy…")

            def opened(m: EpisodeMedia | None) -> None:
                self.play.setEnabled(True)
                if m is None or not m.exists:
                    self.play_note.setText("The kept copy could not be decrypted (damaged, or no room).")
                    return
                self._render_play(m)
                self._open(m)

            self.ctx.tasks.read(lambda: memory.episode_media(episode_id, decrypt=True), opened)
            return
        self._open(media)

    def _open(self, media: EpisodeMedia) -> None:
        mm = multimedia() if media.kind == "video" else None
        if mm is not None:
            self._play_inside(mm, media.path, media.offset_s)
            return
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(media.path)))
        if media.kind == "video" and media.offset_s >= 1:
            self.ctx.status(f"Opened {media.path.name} in your player; the episode starts at {_clock(media.offset_s)}.")
        else:
            self.ctx.status(f"Opened {media.path.name}.")

    def _play_inside(self, mm: tuple[object, object], path: Path, offset_s: float) -> None:
        qtm, qtmw = mm
        dlg = QDialog(self)
        dlg.setWindowTitle(path.name)
        dlg.resize(800, 500)
        video = qtmw.QVideoWidget(dlg)  # type: ignore[attr-defined]
        player = qtm.QMediaPlayer(dlg)  # type: ignore[attr-defined]
        audio = qtm.QAudioOutput(dlg)  # type: ignore[attr-defined]
        player.setAudioOutput(audio)
        player.setVideoOutput(video)
        lay = QVBoxLayout(dlg)
        lay.addWidget(video)
        player.setSource(QUrl.fromLocalFile(str(path)))
        player.setPosition(int(offset_s * 1000))
        player.play()
        dlg.finished.connect(player.stop)
        self._player = dlg
        dlg.show()


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
