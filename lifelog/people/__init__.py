"""People: faces grouped into identities, conservatively, with user edits that stick and undo.

**Clustering** (:mod:`~lifelog.people.cluster`; thresholds in ``ClusterParams``, chosen on
``bench/people.py``; the method and the figures are in ``docs/people.md``). Faces are compared by
the Euclidean distance of their 128-d dlib descriptors (dlib's own same-person cut is 0.6). As new
faces arrive (``People.assign_new_faces``), see ``place_faces``:

1. **Group** the new faces that are good enough to seed (:mod:`lifelog.faces.quality`: big
   enough, sharp, not turned away, not covered, not cut off) by average-linkage agglomerative
   clustering cut at ``seed_link``, never putting two faces of one frame together. A group whose
   mean is within ``group_attach`` of one existing person — and ``margin`` closer to it than to
   any other — joins that person whole. Otherwise a group with faces in at least
   ``seed_min_faces`` different frames becomes a **new person**; smaller groups wait.
2. **Attach** every face still without a person, alone: within ``attach`` of a person's centroid,
   or within ``attach - nearest_offset`` of one of the person's good faces (including the groups
   that just joined it: another photo, another day) while no further than ``attach_far`` from
   the centroid; ``attach_weak`` instead of ``attach`` for faces that may not seed; always with
   the ``margin`` over the next person, and never into a person already in the same frame.

Faces that fit nowhere stay unassigned (``person_id`` null) and are tried again on the next
call, when more evidence may have arrived. Small, blurry or covered faces never start a person.

**User edits** — ``People.name``, ``.merge``, ``.split``, ``.hide``, ``.unhide`` — are recorded
in the ``person_edits`` table (:mod:`~lifelog.people.edits`) before they are applied, with an
encrypted snapshot of every people row and face assignment they change; ``People.undo`` restores
the latest snapshot, also after a restart. An edit **locks** what the user saw: the person
becomes ``user_locked`` and its faces ``assigned_by = "user"``. Automatic clustering
(``People.assign_new_faces``, ``People.recluster``: :mod:`~lifelog.people.assign`) never moves a
locked face, never dissolves, renames or merges a locked person, and faces it adds to a locked
person later remain ``"auto"`` (revisable).

Writes are not locked here: callers hold the data dir's write lock (``lifelog.api`` does). An
edit interrupted midway (its log entry still ``applying``) is rolled back by the next edit.

**Modules** — import each name from the module that defines it (this package re-exports nothing):

* :mod:`lifelog.people.service` — :class:`People`, the service callers use: ``People(store,
  vault)``; reading (list, find, faces, sightings), the user edits and undo, and clustering runs.
* :mod:`lifelog.people.types` — the public values: :class:`PersonInfo`, :class:`FaceInfo`,
  :class:`Sighting`, :class:`Edit`, :class:`AssignReport`, :class:`PeopleError`, and the stored
  kinds ``EditOp``, ``EditState``, ``AssignedBy`` (``Literal`` types).
* :mod:`lifelog.people.names` — :func:`clean_name` (a name as stored), ``MAX_NAME_CHARS``, and
  the key names are matched by.
* :mod:`lifelog.people.cluster` — the clustering algorithm, pure functions over arrays:
  :class:`ClusterParams`, :func:`place_faces`, :func:`average_linkage`, :func:`pairwise`.
* :mod:`lifelog.people.assign` — clustering run over the store: placing new faces, reclustering.
* :mod:`lifelog.people.store` — :class:`PeopleTables`: reading and writing the ``people`` table
  and the people columns of ``faces``, as typed rows (:class:`PersonRow`, :class:`FaceRows`).
* :mod:`lifelog.people.edits` — :class:`EditLog`: the ``person_edits`` undo log, its snapshots,
  undoing and rolling back interrupted edits.
"""
