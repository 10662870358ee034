"""Text in images: read signs, screens and labels in kept frames; search them by keyword.

The model is PP-OCRv4 (detection + recognition ONNX models shipped inside the
``rapidocr-onnxruntime`` wheel), run on onnxruntime with 2 threads. See ``docs/ocr.md``.

Two analyzers run inside the import (:func:`ocr_analyzers` makes the pair):

* :class:`OcrAnalyzer` (name ``ocr``, table ``ocr``) reads each frame and returns one row per
  text line: the text as vault ciphertext (aad ``ocr:<id>``), its box, its confidence;
* :class:`OcrTermsAnalyzer` (name ``ocr-terms``, table ``ocr_terms``) returns the blind keyword
  index rows (keyed hashes of the normalised words, :mod:`lifelog.speech.store`) of the lines the
  OCR analyzer just read. It does no work of its own: it hands over what its OCR analyzer kept
  for the same batch, so the importer writes both tables in its crash-safe sequence (before the
  episode rows, after the journal entry) and a rolled-back import removes both (both tables
  have ``media_id``). No post-import step is needed and no text is ever searchable without
  its index rows, or indexed without its text.

Cost: detection runs on every kept frame (≈20–70 ms at 640 px on 2 threads when there is no
text); recognition only runs on the boxes the detector found (a frame with a sign ≈150–250 ms).

Search: :func:`search_ocr` (all words, in one frame) and :func:`ocr_episode_hits` (scored, for
recall) hash the query's words the same way and decrypt only the matched lines.
"""
