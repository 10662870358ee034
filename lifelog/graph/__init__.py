"""The knowledge graph: people, places, things, episodes and days, and how they relate over time.

A derived, bi-temporal index over the domains (docs/graph.md). Edges carry when they were true
in the world (``valid_from``/``valid_to``: the episode's times, or when a name was given) and
when the memory learnt them or let them go (``learned_at``/``expired_at``); a rename or a merge
expires edges instead of deleting them, so history remains. Evidence is the episode an edge
came from. No plaintext name or text is stored in the graph's tables: labels are read from the
domains' encrypted stores at query time; the name history and the user's facts are vault
ciphertext.

Modules — import each name from the module that defines it:

* :mod:`lifelog.graph.types` — the public values (:class:`Presence`, :class:`Fact`,
  :class:`NameSpan`, :class:`BuildReport`, :class:`GraphStats`, :class:`GraphError`) and kinds.
* :mod:`lifelog.graph.tables` — the tables' schemas, opening them (never created by a reader),
  compaction, forget.
* :mod:`lifelog.graph.derive` — the edges the domains imply now (pure reads of the domains).
* :mod:`lifelog.graph.build` — :func:`build_graph`: bring the stored graph in line with them.
* :mod:`lifelog.graph.query` — the questions (docs/graph.md, "Query API").
* :mod:`lifelog.graph.facts` — the user's own facts (add, list, retract).
"""
