"""The Settings page's "Image-text model" section: the offline default, the optional stronger
CLIP/SigLIP-family models of the manifest (:mod:`lifelog.encoders.registry`), and the work they
need — all of it deliberate user actions:

* **Install…** asks first, showing each file's URL, size and sha256 and the licence, then
  downloads, verifies and installs on the write thread with progress and Cancel
  (:func:`lifelog.encoders.install.install_model`; a cancelled download resumes next time). A
  model with a file whose sha256 is not pinned cannot be installed: its button is disabled and
  the row says why.
* **Use** / **Use default** switch the image-text model new imports and questions use
  (:func:`lifelog.encoders.registry.set_active`); switching back needs no re-index.
* **Re-index existing memories** gives every frame a vector of the model in use
  (:func:`lifelog.api.models.reindex_image_text`) on the write thread, with a progress bar
  (frames done/total) and Cancel. It is resumable: running it again continues where it stopped.
  **Engine**: *Local* (this process, the default) or *Ray* (the encoding spread over Ray actors:
  a local Ray on this computer, or the cluster whose address is typed in; docs/scale.md). When
  Ray is not installed the choice is disabled and the section says how to get it
  (``pip install 'lifelog[scale]'``). One re-index per memory at a time, either engine.

The state (manifest, installed, active, frames left to re-index) is read on the read pool.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ui.context import AppContext
from ui.qt import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from ui.tasks import TaskControl
from ui.widgets import ERROR_STYLE, guarded

JobKind = Literal["install", "reindex"]  # the long job the section runs


@dataclass(frozen=True)
class FileRow:
    filename: str
    url: str
    sha256: str | None
    size: int | None


@dataclass(frozen=True)
class ModelRow:
    """One manifest entry and its state in this memory."""

    name: str
    version: str
    description: str
    licence: str
    source: str
    dim: int
    size: int | None
    installed: bool
    active: bool
    unpinned: list[str]
    files: list[FileRow]

    @property
    def installable(self) -> bool:
        return not self.unpinned

    @property
    def why_not(self) -> str:
        """Why it cannot be installed ("" when it can)."""
        if not self.unpinned:
            return ""
        return (f"Cannot be installed: no pinned sha256 for {', '.join(self.unpinned)} — unverified files "
                "are never installed (pin it in a manifest named by $LIFELOG_MODELS_MANIFEST).")


@dataclass(frozen=True)
class ModelsState:
    active: str | None  # None: the offline default
    active_version: str | None
    rows: list[ModelRow] = field(default_factory=list)
    to_reindex: int = 0  # frames without a vector of the model in use
    error: str | None = None  # a bad manifest or installed state, said plainly
    ray: bool = False  # the Ray engine is installed (lifelog[scale])


def read_models_state(memory: Any) -> ModelsState:
    """Everything the section shows (reads files and the store: run it on a worker)."""
    from lifelog.api.models import ModelRegistryError, active_model, manifest, ray_installed, read_installed

    d = memory.data_dir
    ray = ray_installed()
    try:
        model = active_model(d)
    except ModelRegistryError as e:
        return ModelsState(None, None, error=str(e), ray=ray)
    active = model.name if model else None
    rows: list[ModelRow] = []
    error: str | None = None
    try:
        known = manifest()
    except ModelRegistryError as e:
        known, error = {}, str(e)
    for m in known.values():
        try:
            inst = read_installed(d, m.name)
        except ModelRegistryError as e:
            inst, error = None, str(e)
        rows.append(ModelRow(
            name=m.name, version=inst.version if inst else m.version, description=m.description,
            licence=m.licence, source=m.source, dim=m.dim, size=m.known_size, installed=inst is not None,
            active=active == m.name, unpinned=list(m.unpinned),
            files=[FileRow(f.filename, f.url, f.sha256, f.size) for f in m.files],
        ))
    stale = memory.stale_frames() if model is not None else 0
    return ModelsState(active, model.version if model else None, rows, stale, error, ray)


RAY_NOT_INSTALLED = ("Ray is not installed, so re-indexing runs in this process. To spread it over this "
                     "computer's cores or a cluster, install the scale extra: pip install 'lifelog[scale]' "
                     "(docs/scale.md).")


def confirm_text(row: ModelRow) -> str:
    """What the Install confirmation says: what will be downloaded from where, verified how."""
    size = f"{row.size / 1e6:.1f} MB" if row.size else "size not published (several hundred MB for real models)"
    lines = [f"Download and install {row.name} ({row.dim}-d image-text vectors)?", "",
             f"Licence: {row.licence}", f"Source: {row.source}", f"Total size: {size}", ""]
    for f in row.files:
        lines.append(f"{f.filename}: {f.url}")
        lines.append(f"    sha256 {f.sha256 or '(not pinned)'}" + (f", {f.size:,} bytes" if f.size else ""))
    lines += ["", "Every file is checked against its sha256 before anything is installed. "
              "New imports and questions then use this model; existing memories need a re-index."]
    return "\n".join(lines)


class ModelsSection(QGroupBox):
    """The section (a group box) the Settings page adds: ``ModelsSection(ctx)``."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__("Image-text model", parent)
        from lifelog.api.models import DEFAULT_DESCRIPTION

        self.ctx = ctx
        self.state: ModelsState | None = None
        self.job: TaskControl | None = None  # the running install or re-index
        self.job_kind: JobKind | None = None
        self.job_engine: Literal["local", "ray"] = "local"
        self.last_result: Any = None  # the last ReindexResult or InstalledModel
        self.confirm_box: QMessageBox | None = None
        self.install_buttons: dict[str, QPushButton] = {}
        self.use_buttons: dict[str, QPushButton] = {}
        self.row_labels: dict[str, QLabel] = {}

        lay = QVBoxLayout(self)
        self.in_use = QLabel("Looking…")
        self.in_use.setWordWrap(True)
        lay.addWidget(self.in_use)
        default_row = QHBoxLayout()
        self.default_label = QLabel(f"Offline default: {DEFAULT_DESCRIPTION}. No download needed.")
        self.default_label.setWordWrap(True)
        self.use_default_btn = QPushButton("Use default")
        self.use_default_btn.clicked.connect(lambda: self.use(None))
        default_row.addWidget(self.default_label, 1)
        default_row.addWidget(self.use_default_btn)
        lay.addLayout(default_row)
        self.rows_box = QVBoxLayout()
        lay.addLayout(self.rows_box)

        job_row = QHBoxLayout()
        self.reindex_btn = QPushButton("Re-index existing memories")
        self.reindex_btn.clicked.connect(lambda: self.reindex())
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setVisible(False)
        self.cancel_btn.clicked.connect(lambda: self.cancel())
        job_row.addWidget(self.reindex_btn)
        job_row.addWidget(self.progress, 1)
        job_row.addWidget(self.cancel_btn)
        engine_row = QHBoxLayout()
        engine_row.addWidget(QLabel("Engine:"))
        self.engine = QComboBox()
        self.engine.addItem("Local (this process)", "local")
        self.engine.addItem("Ray (a local Ray, or a cluster)", "ray")
        self.engine.setToolTip("Where the frames are encoded (docs/scale.md)")
        self.engine.currentIndexChanged.connect(lambda _i: self._update_buttons())
        self.address = QLineEdit()
        self.address.setPlaceholderText("Ray cluster address, e.g. HEAD:6379 (empty: a local Ray)")
        engine_row.addWidget(self.engine)
        engine_row.addWidget(self.address, 1)
        lay.addLayout(engine_row)
        self.engine_note = QLabel("")
        self.engine_note.setWordWrap(True)
        self.engine_note.setVisible(False)
        lay.addWidget(self.engine_note)
        lay.addLayout(job_row)
        self.job_label = QLabel("")
        self.job_label.setWordWrap(True)
        lay.addWidget(self.job_label)
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setVisible(False)
        lay.addWidget(self.error)
        self.refresh()

    # ------------------------------------------------------------------ state
    def refresh(self) -> None:
        mem = self.ctx.memory
        self.ctx.tasks.read(lambda: read_models_state(mem), guarded(self, self._render), guarded(self, self._fail))

    def _fail(self, msg: str) -> None:
        self.error.setText(msg)
        self.error.setVisible(True)

    def _render(self, st: ModelsState) -> None:
        self.state = st
        if st.error:
            self._fail(st.error)
        if st.active is None and st.error and not st.rows:
            self.in_use.setText("In use: unknown — the installed state cannot be read (see below).")
        elif st.active is None:
            self.in_use.setText("In use: the offline default.")
        else:
            left = f"{st.to_reindex} frame{'s' if st.to_reindex != 1 else ''} left to re-index"
            self.in_use.setText(f"In use: {st.active} ({st.active_version}) — {left}.")
        while self.rows_box.count():
            item = self.rows_box.takeAt(0)
            w = item.widget() if item is not None else None
            if w is not None:
                w.deleteLater()
        self.install_buttons.clear()
        self.use_buttons.clear()
        self.row_labels.clear()
        for r in st.rows:
            self.rows_box.addWidget(self._row_widget(r))
        self._update_buttons()

    def _row_widget(self, r: ModelRow) -> QWidget:
        w = QWidget()
        row = QHBoxLayout(w)
        row.setContentsMargins(0, 0, 0, 0)
        state = "active" if r.active else "installed" if r.installed else "not installed"
        size = f", {r.size / 1e6:.0f} MB" if r.size else ""
        text = f"{r.name} — {r.description} ({r.dim}-d{size}, {r.licence}) — {state}"
        if not r.installed and not r.installable:
            text += f"\n{r.why_not}"
        label = QLabel(text)
        label.setWordWrap(True)
        install = QPushButton("Install…" if not r.installed else "Reinstall…")
        install.setToolTip(r.why_not or f"Download {r.name} from {r.source} (asks first)")
        install.clicked.connect(lambda _=False, name=r.name: self.ask_install(name))
        use = QPushButton("Use")
        use.clicked.connect(lambda _=False, name=r.name: self.use(name))
        row.addWidget(label, 1)
        row.addWidget(install)
        row.addWidget(use)
        self.install_buttons[r.name] = install
        self.use_buttons[r.name] = use
        self.row_labels[r.name] = label
        return w

    def _update_buttons(self) -> None:
        st, busy = self.state, self.job is not None
        rows = {r.name: r for r in st.rows} if st else {}
        for name, b in self.install_buttons.items():
            b.setEnabled(not busy and rows[name].installable)
        for name, b in self.use_buttons.items():
            b.setEnabled(not busy and rows[name].installed and not rows[name].active)
        self.use_default_btn.setEnabled(not busy and st is not None and st.active is not None)
        self.reindex_btn.setEnabled(not busy and st is not None and st.active is not None and st.to_reindex > 0)
        ray = st is not None and st.ray
        if not ray and self.engine.currentData() == "ray":
            self.engine.setCurrentIndex(0)
        self.engine.setEnabled(not busy and ray)  # without Ray there is nothing to choose (the note says why)
        self.address.setEnabled(not busy and self.engine.currentData() == "ray")
        self.engine_note.setText("" if ray or st is None else RAY_NOT_INSTALLED)
        self.engine_note.setVisible(st is not None and not ray)
        self.cancel_btn.setVisible(busy)
        self.cancel_btn.setEnabled(busy)

    def row(self, name: str) -> ModelRow | None:
        return next((r for r in self.state.rows if r.name == name), None) if self.state else None

    # ------------------------------------------------------------------ actions
    def use(self, name: str | None) -> None:
        """Make ``name`` (None: the offline default) the model new imports and questions use."""
        from lifelog.api.models import set_active

        d = self.ctx.memory.data_dir
        self.error.setVisible(False)

        def done(_: Any) -> None:
            self.ctx.status(f"Image-text model: {name or 'the offline default'}")
            self.ctx.changed("models")
            self.refresh()

        self.ctx.tasks.write(lambda: set_active(d, name), guarded(self, done), guarded(self, self._fail))

    def ask_install(self, name: str) -> None:
        """The Install… button: confirm (URL, size, sha256, licence), then install."""
        r = self.row(name)
        if r is None or not r.installable:
            if r is not None:
                self._fail(r.why_not)
            return
        box = QMessageBox(QMessageBox.Icon.Question, f"Install {name}?", confirm_text(r),
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, self)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)

        def answered(button: Any) -> None:
            if box.standardButton(button) == QMessageBox.StandardButton.Yes:
                self.install(name)

        box.buttonClicked.connect(answered)
        box.finished.connect(lambda _code: setattr(self, "confirm_box", None))
        self.confirm_box = box
        box.open()  # window-modal, not blocking

    def install(self, name: str) -> None:
        """Download, verify and install ``name`` on the write thread (after confirmation)."""
        from lifelog.api.models import install_model, spec

        if self.job is not None:
            return
        d = self.ctx.memory.data_dir

        def work(control: TaskControl) -> Any:
            return install_model(d, spec(name), progress=control.progress, cancel=control.cancelled)

        self._start("install", f"Installing {name}…")
        self.job = self.ctx.tasks.long_write(work, guarded(self, self._install_progress),
                                             guarded(self, self._install_done), guarded(self, self._job_failed))
        self._update_buttons()

    def reindex(self) -> None:
        """Re-index existing memories with the model in use (resumable)."""
        from lifelog.api.models import reindex_image_text

        if self.job is not None:
            return
        mem = self.ctx.memory
        engine: Literal["local", "ray"] = "ray" if self.engine.currentData() == "ray" else "local"
        address = self.address.text().strip() or None if engine == "ray" else None
        self.job_engine = engine

        def work(control: TaskControl) -> Any:
            return reindex_image_text(mem, engine=engine, address=address, progress=control.progress,
                                      cancel=control.cancelled)

        where = "" if engine == "local" else f" on Ray ({address or 'a local Ray'})"
        self._start("reindex", f"Re-indexing{where}…")
        self.job = self.ctx.tasks.long_write(work, guarded(self, self._reindex_progress),
                                             guarded(self, self._reindex_done), guarded(self, self._job_failed))
        self._update_buttons()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.job_label.setText("Stopping after the current step…")

    def before_close(self) -> None:
        self.cancel()

    # ------------------------------------------------------------------ job progress
    def _start(self, kind: JobKind, text: str) -> None:
        self.job_kind = kind
        self.error.setVisible(False)
        self.progress.setRange(0, 0)  # busy until the first report
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.job_label.setText(text)

    def _install_progress(self, p: Any) -> None:
        self.progress.setRange(0, 1000)
        self.progress.setFormat("%p%")
        self.progress.setValue(int(p.fraction * 1000))
        total = f" of {p.total_bytes / 1e6:.1f}" if p.total_bytes else ""
        what = f" {p.file}" if p.file else ""
        self.job_label.setText(f"{p.stage.capitalize()}{what}: {p.done_bytes / 1e6:.1f}{total} MB")

    def _reindex_progress(self, p: Any) -> None:
        self.progress.setRange(0, max(p.total, 1))
        self.progress.setValue(p.done)
        self.progress.setFormat("%v / %m frames")
        where = " on Ray" if self.job_engine == "ray" else ""
        self.job_label.setText(f"Re-indexing{where} with {p.model}: {p.done} of {p.total} frames ({p.stage})")

    def _finish(self) -> None:
        self.job = None
        self.job_kind = None
        self.progress.setVisible(False)
        self._update_buttons()
        self.refresh()

    def _install_done(self, model: Any) -> None:
        self.last_result = model
        self.job_label.setText(f"Installed {model.name} ({model.version}). New imports and questions use it; "
                               "re-index existing memories so they use it too.")
        self.ctx.status(f"Installed {model.name}")
        self.ctx.changed("models")
        self._finish()

    def _reindex_done(self, result: Any) -> None:
        self.last_result = result
        if result.cancelled:
            text = (f"Cancelled: {result.reindexed} frame(s) re-indexed, {result.remaining} left. "
                    "Re-index again to continue where it stopped.")
        else:
            where = " on Ray" if self.job_engine == "ray" else ""
            text = f"Re-indexed {result.reindexed} frame(s){where}; {result.remaining} left."
        if result.failed:
            text += f" {len(result.failed)} frame(s) could not be read (tried again next time)."
        self.job_label.setText(text)
        self.ctx.status(text)
        self.ctx.changed("models")
        self._finish()

    def _job_failed(self, msg: str) -> None:
        kind = "Install" if self.job_kind == "install" else "Re-index"
        self.job_label.setText("")
        self._fail(f"{kind} stopped: {msg}")
        self._finish()
