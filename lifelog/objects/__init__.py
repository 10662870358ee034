"""Everyday objects over time, from the ImageNet labels every kept frame already has.

The visual encoder (``lifelog.encoders.visual``) classifies every kept frame into the 1000
ImageNet classes and the import stores its top labels and their probabilities on the frame
(``frames.labels`` / ``frames.label_scores``). This module reads those labels back: it adds
**no model and no per-frame work** (+0 ms per frame). See ``docs/objects.md``.

* :data:`CATALOGUE` is an explicit, curated list of everyday objects, each a friendly name
  ("phone"), the ImageNet classes that show it ("cellular telephone", "dial telephone") and the
  words a user may call it by ("mobile", "smartphone").
* A frame **shows** an object when the probabilities of the object's classes among the frame's
  top labels add up to at least :data:`THRESHOLD`.
* :class:`Objects` lists the objects seen (first/last seen, episodes, frames, best thumbnail),
  gives one object's timeline by episode, and maps a user's word to classes.

Reads use LanceDB filters (``array_has_any`` on the ``labels`` LABEL_LIST index, the time
window, the unfinished-import filter) and select only the light columns, never the vectors.
"""
