"""The import pipeline: files in, episodes, frames and vectors out (see ``pipeline``).

``media`` (kinds, content hashes, capture times) → ``decode`` (keyframes only, small) →
``episodes`` (near-duplicate filter, episode cutting) → ``pipeline`` (the importer: journal,
encoders and analyzers, crash-safe writes). ``analyzers`` is the protocol per-frame analyzers
(faces, OCR, image-text vectors) implement. Importing this package loads nothing heavy.
"""
