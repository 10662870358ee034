"""The settings model: strict, documented, versioned and migrated on load.

Settings live in ``<data>/settings.json``. Unknown keys are an error (``extra="forbid"``), so a
typo never silently does nothing. ``version`` is bumped when the shape changes and
:func:`migrate` brings an older file up to date.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lifelog.store.files import atomic_write

SETTINGS_VERSION = 1


#: The speech models lifelog can run (docs/speech.md).
SpeechModelName = Literal["tiny.en", "base"]


class SpeechSettings(BaseModel):
    """How speech is transcribed. Strict: an unknown key is an error."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    enabled: bool = Field(True, title="Transcribe speech", description="Transcribe the audio of imported media.")
    model: SpeechModelName = Field(
        "tiny.en",
        title="Whisper model",
        description="tiny.en: English only, fastest (default). base: multilingual with language "
        "detection, more accurate, about 3× slower.",
    )
    openai_whisper_checkpoint: Path | None = Field(
        None,
        title="Own openai-whisper checkpoint",
        description="Path to a Whisper .pt checkpoint for openai-whisper (must be installed); "
        "used instead of the built-in model when set.",
    )
    language: str | None = Field(
        None,
        title="Language",
        description="ISO 639-1 code to force (e.g. 'de'); None detects it (multilingual models only).",
    )
    beam_size: int = Field(1, ge=1, le=10, title="Beam size", description="1 = greedy decoding (fastest).")
    cpu_threads: int = Field(2, ge=1, le=64, title="CPU threads", description="Threads for the speech model.")
    window_s: float = Field(
        240.0, ge=30.0, le=3600.0, title="Window", description="Seconds of audio processed at once (memory bound)."
    )
    vad_threshold: float = Field(0.5, gt=0.0, lt=1.0, title="Voice activity threshold")
    min_silence_ms: int = Field(
        1000, ge=100, le=10000, title="Pause that ends an utterance", description="Silence that splits speech."
    )


class CaptureSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sample_interval_s: float = Field(
        2.0, ge=0.2, le=60.0, title="Sampling interval", description="At most one frame per this many seconds."
    )
    max_gap_s: float = Field(
        10.0, ge=1.0, le=600.0, title="Longest unsampled stretch",
        description="Where keyframes are sparser than this, extra frames are decoded.",
    )
    duplicate_threshold: float = Field(
        0.02, ge=0.0, le=1.0, title="Near-duplicate threshold",
        description="Mean grey difference (0–1) below which a frame is skipped as a duplicate.",
    )

    faces: bool = Field(True, title="Find faces", description="Detect and describe faces to group them into people.")
    ocr_interval_s: float = Field(
        10.0, ge=0.0, le=3600.0, title="Read text every",
        description="Read signs and screens (OCR) in at most one frame per this many seconds; 0 turns OCR off.",
    )

    @model_validator(mode="after")
    def _gap_after_interval(self) -> CaptureSettings:
        if self.max_gap_s < self.sample_interval_s:
            raise ValueError("max_gap_s must be at least sample_interval_s")
        return self


class EpisodeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gap_s: float = Field(120.0, ge=1.0, title="Time gap", description="A pause longer than this starts a new episode.")
    scene_threshold: float = Field(
        0.65, ge=0.0, le=1.0, title="Scene-change similarity",
        description="Frames less similar than this to the episode so far start a new episode.",
    )
    min_episode_s: float = Field(6.0, ge=0.0, title="Shortest episode")


class RetentionSettings(BaseModel):
    """How long each kind of memory is kept (days; None keeps it for ever). Applied by
    ``lifelog retention --apply``, when the app starts and by the nightly maintenance pass; the
    oldest memories go first, judged by when they were recorded (docs/privacy.md)."""

    model_config = ConfigDict(extra="forbid")

    everything_days: int | None = Field(
        None, ge=1, title="Keep everything for", description="Days; older memories are forgotten for good."
    )
    originals_days: int | None = Field(
        None, ge=1, title="Keep copied footage for",
        description="Days to keep the footage copied from devices (the memory itself stays).",
    )
    thumbnails_days: int | None = Field(
        None, ge=1, title="Keep pictures for", description="Days to keep thumbnails and keyframes."
    )
    transcripts_days: int | None = Field(
        None, ge=1, title="Keep what was said for", description="Days to keep transcripts."
    )
    faces_days: int | None = Field(
        None, ge=1, title="Keep faces for", description="Days to keep faces and face crops."
    )
    stranger_faces_days: int | None = Field(
        90, ge=1, title="Keep strangers' faces for",
        description="Days to keep the faces, face crops and face descriptors of people you have not named, "
        "counted from when they were imported (or recorded, if later): name someone to keep their faces "
        "(docs/privacy.md, \"Strangers' faces\").",
    )
    trash_days: int = Field(
        30, ge=1, title="Keep the trash for",
        description="Days an episode or day moved to the trash can be restored before it is forgotten for good.",
    )

    @model_validator(mode="after")
    def _parts_within_everything(self) -> RetentionSettings:
        if self.everything_days is not None:
            for name in ("originals_days", "thumbnails_days", "transcripts_days", "faces_days",
                         "stranger_faces_days"):
                v = getattr(self, name)
                if v is not None and v > self.everything_days:
                    setattr(self, name, self.everything_days)
        return self


#: Days of the week, as quiet-hour windows write them.
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _time_of_day(v: object) -> str:
    """``"7:00"`` / ``"07:00"`` → ``"07:00"``; anything else is refused."""
    import re

    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", v) if isinstance(v, str) else None
    if m is None or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ValueError(f"not a time of day: {str(v)[:40]!r} (write HH:MM, e.g. 22:00)")
    return f"{int(m.group(1)):02d}:{m.group(2)}"


class QuietWindow(BaseModel):
    """One quiet-hours window: nothing is captured from ``start`` to ``end`` (local time) on ``days``.

    ``end`` before ``start`` crosses midnight (``22:00``–``07:00`` on ``fri`` covers Friday 22:00 to
    Saturday 07:00: a window belongs to the day it starts on)."""

    model_config = ConfigDict(extra="forbid")

    start: str = Field(title="From", description="Local time of day the window starts, HH:MM.")
    end: str = Field(title="Until", description="Local time of day it ends, HH:MM (before start: the next day).")
    days: list[str] | None = Field(
        None, title="Days", description="mon … sun; none (or empty) means every day.",
    )

    @field_validator("start", "end", mode="before")
    @classmethod
    def _hhmm(cls, v: object) -> str:
        return _time_of_day(v)

    @field_validator("days", mode="before")
    @classmethod
    def _days(cls, v: object) -> list[str] | None:
        if v is None:
            return None
        if not isinstance(v, list):
            raise ValueError("days must be a list such as [\"mon\", \"tue\"]")
        out: list[str] = []
        for d in v:
            key = d.strip().lower()[:3] if isinstance(d, str) else ""
            if key not in DAYS:
                raise ValueError(f"not a day: {str(d)[:20]!r} (use mon, tue, wed, thu, fri, sat, sun)")
            if key not in out:
                out.append(key)
        return sorted(out, key=DAYS.index) or None

    @model_validator(mode="after")
    def _not_empty(self) -> QuietWindow:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        return self

    def minutes(self) -> tuple[int, int]:
        """(start, end) in minutes after midnight."""
        def m(s: str) -> int:
            return int(s[:2]) * 60 + int(s[3:])

        return m(self.start), m(self.end)

    def describe(self) -> str:
        """``22:00–07:00 every day`` / ``22:00–07:00 mon, tue``."""
        return f"{self.start}–{self.end} " + (", ".join(self.days) if self.days else "every day")


class PrivacySettings(BaseModel):
    """What is kept out of the pictures and texts lifelog stores (docs/privacy.md, "Redaction"), and
    when and from which devices nothing is captured at all ("Private mode").

    Applied at import time to what is imported from then on; a memory whose settings have no
    ``privacy`` section gets these defaults (protection on), pictures stored earlier stay as they are."""

    model_config = ConfigDict(extra="forbid")

    blur_bystanders: bool = Field(
        True, title="Blur bystanders",
        description="Blur the faces of people you have not named in stored pictures (from the next import on).",
    )
    redact_sensitive_text: bool = Field(
        True, title="Hide sensitive text",
        description="Card numbers, e-mail addresses, phone numbers, one-time codes and your own words "
        "are not stored and are blurred in stored pictures.",
    )
    sensitive_words: list[str] = Field(
        default_factory=list, max_length=200, title="Sensitive words",
        description="Words or phrases (e.g. 'password', your bank's name): a line of text holding one is hidden.",
    )

    quiet_hours: list[QuietWindow] = Field(
        default_factory=list, max_length=50, title="Quiet hours",
        description="Time windows (local time) during which nothing is captured: no webcam, no device sync, the "
        "Wi-Fi receiver refuses uploads, and footage recorded in them that arrives later is skipped.",
    )
    excluded_devices: list[str] = Field(
        default_factory=list, max_length=500, title="Excluded devices",
        description="Ids of paired devices lifelog never takes footage from (sync and Wi-Fi uploads refuse them).",
    )

    @field_validator("excluded_devices")
    @classmethod
    def _device_ids(cls, v: list[str]) -> list[str]:
        import re

        out: list[str] = []
        for d in v:
            d = d.strip()
            if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,79}", d) or ".." in d:
                raise ValueError(f"not a device id: {d[:40]!r}")
            if d not in out:
                out.append(d)
        return out

    @field_validator("sensitive_words")
    @classmethod
    def _clean_words(cls, v: list[str]) -> list[str]:
        out: list[str] = []
        for w in v:
            w = " ".join(w.split())
            if len(w) > 100:
                raise ValueError("a sensitive word is at most 100 characters")
            if w and sum(c.isalnum() for c in w) >= 2 and w.casefold() not in {o.casefold() for o in out}:
                out.append(w)
            elif w and sum(c.isalnum() for c in w) < 2:
                raise ValueError(f"sensitive word {w!r} needs at least two letters or digits")
        return out


class ConsolidationSettings(BaseModel):
    """When the nightly consolidation pass runs (docs/consolidation.md). Strict: an unknown key is an error.

    The pass starts at ``window_start`` local time; a machine asleep then runs it once when it
    wakes, as long as it is still before ``window_end`` (``end`` before ``start`` crosses midnight)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, title="Tidy the memory nightly", description="Run the consolidation pass every night.")
    window_start: str = Field("02:00", title="From", description="Local time of day the nightly pass starts, HH:MM.")
    window_end: str = Field(
        "05:00", title="Until",
        description="A pass missed (the machine was asleep) still starts until this time, HH:MM.",
    )
    merge_gap_s: float = Field(
        600.0, ge=0.0, le=7200.0, title="Merge fragments closer than",
        description="Episodes of the same scene this many seconds apart or closer are merged into one.",
    )
    merge_similarity: float = Field(
        0.8, ge=0.0, le=1.0, title="Same scene above",
        description="Cosine similarity of two episodes' mean vectors above which they show the same scene.",
    )
    duplicate_similarity: float = Field(
        0.985, gt=0.0, le=1.0, title="Near-duplicate frames above",
        description="Frames of one episode this similar to a kept neighbour are dropped (evidence stays).",
    )

    @field_validator("window_start", "window_end", mode="before")
    @classmethod
    def _hhmm(cls, v: object) -> str:
        return _time_of_day(v)

    @model_validator(mode="after")
    def _not_empty(self) -> ConsolidationSettings:
        if self.window_start == self.window_end:
            raise ValueError("window_start and window_end must differ")
        return self


class StorageSettings(BaseModel):
    """Where the memory's tables live (docs/scale.md): the default local folder ``<data>/db``, another
    folder, or an S3-compatible object store. **No credentials here**: they come from the environment
    (``AWS_ACCESS_KEY_ID`` …) or the OS keyring (``lifelog storage set-credentials``). The vault's
    blobs stay in the data dir. Read by :func:`lifelog.store.location.location_for`."""

    model_config = ConfigDict(extra="forbid")

    tables: str | None = Field(
        None, title="Tables",
        description="A folder (relative to the data dir, or absolute) or s3://bucket/prefix; None: <data>/db.",
    )
    endpoint: str | None = Field(
        None, title="Object store endpoint",
        description="URL of an S3-compatible server (MinIO, Ceph, Garage …); None: AWS S3.",
    )
    region: str | None = Field(None, title="Region", description="The bucket's region (e.g. eu-central-1).")
    retry_timeout_s: float = Field(
        30.0, ge=1.0, le=3600.0, title="Give up after",
        description="Seconds of retrying an unreachable object store before a job stops with an error.",
    )
    cache: bool = Field(
        True, title="Local read cache",
        description="Keep a local copy of the hot tables of an object-store memory and answer from it "
                    "(docs/scale.md); the object store stays the source of truth.",
    )
    cache_max_mb: int = Field(
        20480, ge=0, le=10_000_000, title="Cache size limit (MB)",
        description="The local read cache's limit; tables that do not fit are read from the object store.",
    )
    cache_check_s: float = Field(
        1.0, ge=0.0, le=3600.0, title="Check for other writers every (s)",
        description="How often a question checks the object store for versions written by other processes "
                    "or machines (0: at every question); this process's own writes are seen at once.",
    )

    @field_validator("tables")
    @classmethod
    def _tables(cls, v: str | None) -> str | None:
        from lifelog.store.location import parse_tables_uri

        return parse_tables_uri(v) if v is not None and v.strip() else None

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str | None) -> str | None:
        from lifelog.store.location import parse_endpoint

        return parse_endpoint(v) if v is not None and v.strip() else None


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(SETTINGS_VERSION, title="Settings format version")
    capture: CaptureSettings = Field(default_factory=CaptureSettings)
    episodes: EpisodeSettings = Field(default_factory=EpisodeSettings)
    speech: SpeechSettings = Field(default_factory=SpeechSettings, title="Speech")
    retention: RetentionSettings = Field(default_factory=RetentionSettings, title="Retention")
    privacy: PrivacySettings = Field(default_factory=PrivacySettings, title="Privacy")
    consolidation: ConsolidationSettings = Field(default_factory=ConsolidationSettings, title="Consolidation")
    storage: StorageSettings = Field(default_factory=StorageSettings, title="Storage")
    timezone: str | None = Field(
        None, title="Time zone", description="IANA zone for days and answers; default: the system's."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as Europe/Berlin)") from None
        return v.strip()


class SettingsError(ValueError):
    pass


def migrate(raw: dict[str, Any]) -> dict[str, Any]:
    version = int(raw.get("version", 1))
    if version > SETTINGS_VERSION:
        raise SettingsError(f"settings were written by a newer lifelog (format {version})")
    raw["version"] = SETTINGS_VERSION
    return raw


def load_settings(data_dir: Path) -> Settings:
    path = data_dir / "settings.json"
    if not path.exists():
        return Settings()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise SettingsError(f"{path}: expected a JSON object")
        return Settings.model_validate(migrate(raw))
    except (json.JSONDecodeError, ValidationError) as e:
        raise SettingsError(f"{path} is invalid: {e}") from e


def save_settings(data_dir: Path, settings: Settings) -> None:
    atomic_write(data_dir / "settings.json", settings.model_dump_json(indent=2).encode("utf-8"))


# ------------------------------------------------------------- where the memory lives
# The desktop app's "choose another memory folder" is remembered outside any memory, in
# ``<user config dir>/lifelog/location.json`` ({"data_dir": "/path"}), and takes effect on the
# next start. An explicit ``--data-dir`` and ``$LIFELOG_HOME`` still win over it. Reading it lives in
# lifelog.paths (no pydantic: a handed-over `lifelog ask` resolves its memory folder cheaply, #18).
from lifelog.paths import LOCATION_FILE as LOCATION_FILE  # noqa: E402
from lifelog.paths import chosen_data_dir as chosen_data_dir  # noqa: E402
from lifelog.paths import location_file as location_file  # noqa: E402


def choose_data_dir(data_dir: Path | None) -> Path:
    """Remember ``data_dir`` as the memory folder for the next start (None forgets the choice)."""
    path = location_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"data_dir": str(Path(data_dir).expanduser().resolve())} if data_dir is not None else {}
    atomic_write(path, json.dumps(doc, indent=1).encode("utf-8"))
    return path
