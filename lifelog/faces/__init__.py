"""Faces: detection (MediaPipe BlazeFace), alignment and 128-d identity descriptors (dlib's
ResNet, run on onnxruntime), a quality score, and face crops in the vault.

Importing this package loads no model and imports neither mediapipe nor dlib; the models load
on first use and are shared per process (:func:`get_face_models`). See ``docs/people.md``.
"""

from lifelog.faces.analyze import MAX_FACES, AnalyzerStats, Face, FaceAnalyzer, FrameFaces, find_faces
from lifelog.faces.image import as_rgb8
from lifelog.faces.models import Detection, FaceModelError, FaceModels, get_face_models
from lifelog.faces.quality import FaceQuality

__all__ = [
    "MAX_FACES",
    "AnalyzerStats",
    "Detection",
    "Face",
    "FaceAnalyzer",
    "FaceModelError",
    "FaceModels",
    "FaceQuality",
    "FrameFaces",
    "as_rgb8",
    "find_faces",
    "get_face_models",
]
