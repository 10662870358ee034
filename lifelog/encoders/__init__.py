"""Image and text encoders on onnxruntime (models built by ``models/build.py``; no torch).

Importing this package loads no model: encoders are made on first use, and
:func:`get_text_encoder` / :func:`get_visual_encoder` share one of each per process.
"""

from lifelog.encoders.base import ModelMissingError, ort_session
from lifelog.encoders.text import TextEncoder, get_text_encoder
from lifelog.encoders.visual import VisualBatch, VisualEncoder, get_visual_encoder

__all__ = [
    "ModelMissingError",
    "TextEncoder",
    "VisualBatch",
    "VisualEncoder",
    "get_text_encoder",
    "get_visual_encoder",
    "ort_session",
]
