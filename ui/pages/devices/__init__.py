"""The Devices page (:class:`DevicesPage`, in :mod:`~ui.pages.devices.page`) and its three
panels: the Wi-Fi receiver and pairing (:mod:`~ui.pages.devices.wifi`), the paired devices and
their sync (:mod:`~ui.pages.devices.paired`) and the webcam (:mod:`~ui.pages.devices.webcam`).
What is not widgets — reading the device registries, camera cards, GoPro checks, syncing — is
in the core, reached through :mod:`lifelog.api.devices`.
"""

from ui.pages.devices.page import DevicesPage
from ui.pages.devices.paired import DeviceRowWidget, PairedDevicesPanel, SyncState, sync_problems
from ui.pages.devices.text import format_elapsed, free_space_hint, human_bytes
from ui.pages.devices.webcam import WebcamPanel
from ui.pages.devices.wifi import ApprovalRequest, ReceiverStartError, WifiPanel

__all__ = [
    "ApprovalRequest",
    "DeviceRowWidget",
    "DevicesPage",
    "PairedDevicesPanel",
    "ReceiverStartError",
    "SyncState",
    "WebcamPanel",
    "WifiPanel",
    "format_elapsed",
    "free_space_hint",
    "human_bytes",
    "sync_problems",
]
