"""Every error a front end catches and says to the user, in one place.

The core raises them; ``ui`` and :mod:`lifelog.commands` import them from here only. Three
registries each have their own error, told apart by name: :class:`DeviceRegistryError` (the
memory's paired USB cards, GoPro-style cameras, folders), :class:`WifiRegistryError` (devices
paired over Wi-Fi) and :class:`ModelRegistryError` (installed image-text models).
"""

from __future__ import annotations

from lifelog.config import SettingsError
from lifelog.encoders.base import ModelMissingError
from lifelog.encoders.install import InstallCancelled, InstallError
from lifelog.encoders.registry import RegistryError as ModelRegistryError
from lifelog.ingest.media import MediaError
from lifelog.ingest.pipeline import ImportCancelled
from lifelog.people.types import PeopleError
from lifelog.privacy.forget import ForgetError
from lifelog.recall.parse import QuestionError
from lifelog.sample.fetch import SampleMediaUnavailable
from lifelog.sources.base import DeviceGone, RefusedItem, SourceError
from lifelog.sources.devices import GoProPairError
from lifelog.sources.ledger import LedgerDamaged
from lifelog.sources.registry import RegistryError as DeviceRegistryError
from lifelog.sources.sync import SyncCancelled
from lifelog.sources.webcam import CameraError
from lifelog.sources.wifi.pairing import PairingUriError
from lifelog.sources.wifi.registry import PairingRefused
from lifelog.sources.wifi.registry import RegistryError as WifiRegistryError
from lifelog.speech.transcribe import SpeechModelError
from lifelog.store.lock import WriteLockBusy, WriterWaitCancelled
from lifelog.store.vault import VaultCorruptError, VaultError, VaultLockedError

__all__ = [
    "CameraError",
    "DeviceGone",
    "DeviceRegistryError",
    "ForgetError",
    "GoProPairError",
    "ImportCancelled",
    "InstallCancelled",
    "InstallError",
    "LedgerDamaged",
    "MediaError",
    "ModelMissingError",
    "ModelRegistryError",
    "PairingRefused",
    "PairingUriError",
    "PeopleError",
    "QuestionError",
    "RefusedItem",
    "SampleMediaUnavailable",
    "SettingsError",
    "SourceError",
    "SpeechModelError",
    "SyncCancelled",
    "VaultCorruptError",
    "VaultError",
    "VaultLockedError",
    "WifiRegistryError",
    "WriteLockBusy",
    "WriterWaitCancelled",
]
