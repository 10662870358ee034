"""The memory profile: what lifelog believes about your life, as plain text you can read and edit.

Three blocks (docs/profile.md has the format):

* **People** — who, how often, when last seen, with whom;
* **Places and routines** — scenes seen on several occasions ("gym: 3 times, last …") and what
  recurs at the same time of day on several days ("weekday mornings: bus around 09:15");
* **Things** — where each everyday object was last seen (the episode's time and description).

One fact per line. A line the nightly pass infers ends with its key in brackets (``[person:ab12]``,
``[place:gym]``, ``[thing:camera]``). When you change a line, or write a new one, it becomes
yours: it is shown with ``(yours)`` and kept over whatever the pass infers for that key from then
on; when the pass later infers something different for the same key, your line stays and the
profile's history records the contradiction. Delete an inferred line and it is hidden
(``- (hidden) [key]``; delete that marker to bring it back). The history (in the vault) keeps
every change you saved and every contradiction the pass found.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from lifelog.consolidate.context import ConsolidationContext
from lifelog.store.db import Store
from lifelog.store.notes import (
    LineSource,
    ProfileDoc,
    ProfileLine,
    add_history,
    episode_descriptions,
    load_profile,
    read_notes,
    save_profile,
)
from lifelog.store.vault import Vault

BLOCKS = ("People", "Places and routines", "Things")
MAX_THINGS = 25
MIN_DAYS = 2  # a routine recurs on at least this many days; a place is seen at least this often
HEADER = (
    "# Memory profile: what lifelog believes, in plain text.\n"
    "# One fact per line. Change a line or add your own: it is marked (yours) and kept over what the\n"
    "# nightly pass infers. Delete a line to hide it. Lines starting with # are ignored.\n"
)
_TAG = re.compile(r"\s*\[((?:person|place|routine|thing):[^\]\s]+)\]\s*$")
_MARK = re.compile(r"^\((yours|hidden)\)\s*")


class ProfileError(ValueError):
    """The edited text is not a profile (the message names the line)."""


@dataclass
class ProfileReport:
    lines: int = 0
    inferred: int = 0
    user: int = 0
    contradictions: int = 0
    history_added: int = 0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"lines": self.lines, "inferred": self.inferred, "user": self.user,
                "contradictions": self.contradictions, "history_added": self.history_added}


def _when(t: datetime, tz: tzinfo) -> str:
    t = t.astimezone(tz)
    return f"{t:%a} {t.day} {t:%b %Y} {t:%H:%M}"


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


# ------------------------------------------------------------------------------ inferring
def infer(store: Store, vault: Vault, tz: tzinfo) -> list[ProfileLine]:
    """The profile lines the memory supports now (every block)."""
    from lifelog.consolidate.describe import Words, part_of_day, things_and_scene
    from lifelog.objects.timeline import Objects
    from lifelog.people.service import People

    store.refresh()
    hidden_eps = store.committed_filter(episode_column="id")
    eps = store.rows("episodes", hidden_eps, columns=["id", "start", "end", "labels", "label_scores"]).to_pylist()
    eps.sort(key=lambda e: e["start"])
    by_id = {e["id"]: e for e in eps}
    out: list[ProfileLine] = []
    # People
    people = People(store, vault)
    infos = [p for p in people.list(include_hidden=True) if not p.hidden]
    pairs = people.tables.episode_people(list(by_id)) if by_id else set()
    eps_of: dict[str, set[str]] = {}
    for ep, pid in pairs:
        eps_of.setdefault(pid, set()).add(ep)
    label = {p.id: p.name or f"someone not named yet ({p.id})" for p in infos}
    for p in infos:
        mine = sorted((e for e in eps_of.get(p.id, ()) if e in by_id), key=lambda e: by_id[e]["start"])
        if not mine:
            continue
        days = {by_id[e]["start"].astimezone(tz).date() for e in mine}
        co: dict[str, int] = {}
        for ep, other in pairs:
            if other != p.id and other in label and ep in mine:
                co[other] = co.get(other, 0) + 1
        others = sorted(co, key=lambda o: (-co[o], label[o]))[:2]
        text = (f"{label[p.id]}: seen in {_plural(len(mine), 'moment')} on {_plural(len(days), 'day')}; "
                f"last seen {_when(by_id[mine[-1]]['start'], tz)}")
        if others:
            text += f"; with {' and '.join(label[o] for o in others)}"
        out.append(ProfileLine("People", f"person:{p.id}", text, people=[p.id, *others], episodes=[mine[-1]]))
    # Places and routines: from each episode's scene, or its main thing when no scene shows
    words_ = Words() if eps else None
    topic: dict[str, str] = {}
    with_faces = {ep for ep, _ in pairs}
    for e in eps:
        assert words_ is not None
        things, scene = things_and_scene(words_, [{"id": e["id"], "labels": e.get("labels"),
                                                    "label_scores": e.get("label_scores")}], with_faces)
        if scene:
            topic[e["id"]] = scene
        elif things:
            topic[e["id"]] = things[0]
    scenes = {w for w, _ in words_.scenes} if words_ else set()
    groups: dict[str, list[str]] = {}
    for eid, t in topic.items():
        groups.setdefault(t, []).append(eid)
    for t, ids in sorted(groups.items()):
        if t in scenes and len(ids) >= MIN_DAYS:
            last = by_id[ids[-1]]["start"]
            out.append(ProfileLine("Places and routines", f"place:{t}",
                                   f"{t}: {_plural(len(ids), 'time')}, last {_when(last, tz)}", episodes=ids[-200:]))
    routines: dict[tuple[str, str, str], list[str]] = {}
    for eid, t in topic.items():
        local = by_id[eid]["start"].astimezone(tz)
        week = "weekday" if local.weekday() < 5 else "weekend"
        routines.setdefault((t, week, part_of_day(local).lower()), []).append(eid)
    for (t, week, pod), ids in sorted(routines.items()):
        local = [by_id[i]["start"].astimezone(tz) for i in ids]
        days = {x.date() for x in local}
        if len(days) < MIN_DAYS:
            continue
        minute = int(statistics.median(x.hour * 60 + x.minute for x in local))
        text = (f"{week} {pod}s: {t} around {minute // 60:02d}:{minute % 60:02d} "
                f"({_plural(len(days), 'day')}, last {local[-1]:%a} {local[-1].day} {local[-1]:%b})")
        out.append(ProfileLine("Places and routines", f"routine:{t}-{week}-{pod}", text, episodes=ids[-200:]))
    # Things: where each everyday object was last seen
    objects = Objects(store)
    listed = objects.list()[:MAX_THINGS]
    last_eps: dict[str, str] = {}
    for o in listed:
        seen = [s for s in objects.timeline(o.name) if s.episode_id in by_id]
        if seen:
            last_eps[o.name] = max(seen, key=lambda s: s.last).episode_id
    descs = episode_descriptions(store, vault, sorted(set(last_eps.values())))
    note_people = {n.subject: n.people for n in read_notes(store, vault, _ids_where(sorted(set(last_eps.values()))))}
    for o in listed:
        last_ep = last_eps.get(o.name)
        if last_ep is None:
            continue
        ep = last_ep
        text = f"{o.name}: last seen {_when(by_id[ep]['start'], tz)}"
        if descs.get(ep):
            text += f" ({descs[ep].rstrip('.')})"
        who = sorted({p for e2, p in pairs if e2 == ep} | set(note_people.get(ep, [])))
        out.append(ProfileLine("Things", f"thing:{o.name}", text, people=who, episodes=[ep]))
    return out


def _ids_where(episode_ids: Sequence[str]) -> str:
    from lifelog.store.sql import sql_in

    return sql_in("id", [f"ep:{e}" for e in episode_ids])


# ------------------------------------------------------------------------------ text
def render(doc: ProfileDoc) -> str:
    """The profile as the editable text."""
    lines = [HEADER]
    user_by_key: dict[str | None, ProfileLine] = {
        ln.key: ln for ln in doc.lines if ln.source in ("user", "hidden") and ln.key}
    for block in BLOCKS:
        lines.append(f"## {block}")
        shown: set[str] = set()
        for ln in doc.lines:
            if ln.block != block or ln.source != "inferred":
                continue
            if ln.key in user_by_key:
                continue
            lines.append(f"- {ln.text}  [{ln.key}]")
        for ln in doc.lines:
            if ln.block != block or ln.source == "inferred":
                continue
            tag = f"  [{ln.key}]" if ln.key else ""
            if ln.source == "hidden":
                lines.append(f"- (hidden){tag}")
            else:
                lines.append(f"- (yours) {ln.text}{tag}")
            shown.add(ln.key or "")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def parse(text: str) -> list[tuple[str, str | None, str, LineSource | None]]:
    """(block, key, text, mark) of every fact line; :class:`ProfileError` names a bad line."""
    out: list[tuple[str, str | None, str, LineSource | None]] = []
    block: str | None = None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or (line.startswith("#") and not line.startswith("##")):
            continue
        if line.startswith("##"):
            name = line.lstrip("#").strip()
            match = [b for b in BLOCKS if b.lower() == name.lower()]
            if not match:
                raise ProfileError(f"line {n}: unknown section {name!r} (the sections are {', '.join(BLOCKS)})")
            block = match[0]
            continue
        if not line.startswith("-"):
            raise ProfileError(f"line {n}: a fact starts with \"- \" (or write a comment starting with #)")
        if block is None:
            raise ProfileError(f"line {n}: a fact before the first section (## People, …)")
        body = line[1:].strip()
        mark: LineSource | None = None
        m = _MARK.match(body)
        if m:
            mark = "user" if m.group(1) == "yours" else "hidden"
            body = body[m.end():]
        key = None
        t = _TAG.search(body)
        if t:
            key = t.group(1)
            body = body[:t.start()].strip()
        elif "[" in body and body.rstrip().endswith("]"):
            raise ProfileError(f"line {n}: {body[body.rfind('['):]!r} is not a key lifelog knows")
        if mark == "hidden" and key is None:
            raise ProfileError(f"line {n}: (hidden) needs the key of the line it hides")
        if mark != "hidden" and not body:
            raise ProfileError(f"line {n}: an empty fact")
        if len(body) > 500:
            raise ProfileError(f"line {n}: a fact of more than 500 characters")
        out.append((block, key, body, mark))
    return out


def _mentions(text: str, names: dict[str, str]) -> list[str]:
    """Ids of the named people a line mentions (by name, whole words, any case)."""
    low = text.lower()
    return sorted(pid for pid, name in names.items()
                  if name and re.search(r"(?<!\w)" + re.escape(name.lower()) + r"(?!\w)", low))


def _names(store: Store, vault: Vault) -> dict[str, str]:
    from lifelog.people.service import People

    return {p.id: p.name for p in People(store, vault).list(include_hidden=True) if p.name}


def _key_for(block: str, key: str | None, text: str, names: dict[str, str]) -> str | None:
    """A user line without a key about a known person ("Barack: my brother") overrides that
    person's line; a place line ("my gym: …") gets the place key."""
    if key is not None:
        return key
    head = text.split(":", 1)[0].strip() if ":" in text else ""
    if not head:
        return None
    if block == "People":
        for pid, name in names.items():
            if name.lower() == head.lower():
                return f"person:{pid}"
    if block == "Places and routines":
        word = re.sub(r"^(my|our|the)\s+(usual\s+)?", "", head.lower()).strip()
        if word and " " not in word:
            return f"place:{word}"
    return None


def save_text(store: Store, vault: Vault, text: str, now: datetime) -> ProfileReport:
    """Save the user's edited text: changed and new lines become theirs, removed inferred lines
    hidden; the history records each change. :class:`ProfileError` (nothing saved) for text that
    is not a profile. The caller holds the write lock."""
    parsed = parse(text)
    doc = load_profile(store, vault)
    names = _names(store, vault)
    inferred = {ln.key: ln for ln in doc.lines if ln.source == "inferred" and ln.key}
    before = {(ln.key, ln.text, ln.source) for ln in doc.lines if ln.source != "inferred"}
    old_user = {ln.key: ln for ln in doc.lines if ln.source == "user" and ln.key}
    mine: list[ProfileLine] = []
    present: set[str] = set()
    for block, key, body, mark in parsed:
        if key is not None:
            present.add(key)
        if mark == "hidden":
            assert key is not None
            mine.append(ProfileLine(block, key, "", "hidden"))
            continue
        inf = inferred.get(key) if key else None
        if mark is None and inf is not None and inf.text == body:
            continue  # the pass's line, unchanged
        k = _key_for(block, key, body, names)
        pids = sorted(set(_mentions(body, names)) | ({k.split(":", 1)[1]} if k and k.startswith("person:") else set()))
        prev = old_user.get(k) if k else None
        mine.append(ProfileLine(block, k, body, "user", people=pids,
                                episodes=list(inf.episodes) if inf else [],
                                seen_inferred=prev.seen_inferred if prev and prev.text == body else None))
        if k:
            present.add(k)
    for key, ln in inferred.items():
        if key not in present:
            mine.append(ProfileLine(ln.block, key, "", "hidden"))
    after = {(ln.key, ln.text, ln.source) for ln in mine}
    entries: list[tuple[str, Sequence[str], Sequence[str]]] = []
    by_key_after = {ln.key: ln for ln in mine}
    for ln in mine:
        if (ln.key, ln.text, ln.source) in before:
            continue
        if ln.source == "hidden":
            entries.append((f"You hid [{ln.key}].", ln.people, ln.episodes))
        else:
            entries.append((f"You wrote: \u201c{ln.text}\u201d" + (f" [{ln.key}]" if ln.key else ""), ln.people,
                            ln.episodes))
    for key, txt, src in before - after:
        if key in by_key_after and by_key_after[key].source == src:
            continue
        old = next((ln for ln in doc.lines if ln.key == key and ln.text == txt and ln.source == src), None)
        ppl = old.people if old else []
        entries.append((f"You removed your line \u201c{txt}\u201d." if src == "user" else f"You showed [{key}] again.",
                        ppl, []))
    doc.lines = [ln for ln in doc.lines if ln.source == "inferred"] + mine
    doc.edited_at = now
    save_profile(store, vault, doc)
    add_history(store, vault, entries, now)
    return _report(doc, history_added=len(entries))


def _report(doc: ProfileDoc, **kw: Any) -> ProfileReport:
    return ProfileReport(lines=len(doc.lines), inferred=sum(ln.source == "inferred" for ln in doc.lines),
                         user=sum(ln.source == "user" for ln in doc.lines), **kw)


# ------------------------------------------------------------------------------ the step
def refresh(store: Store, vault: Vault, tz: tzinfo, now: datetime) -> ProfileReport:
    """Regenerate the inferred lines; keep the user's lines (their key's inferred line stays out
    of sight) and record in the history each new contradiction between a user line and what the
    pass infers for its key. The caller holds the write lock."""
    doc = load_profile(store, vault)
    names = _names(store, vault)
    fresh = infer(store, vault, tz)
    by_key = {ln.key: ln for ln in fresh}
    entries: list[tuple[str, Sequence[str], Sequence[str]]] = []
    kept: list[ProfileLine] = []
    contradictions = 0
    for ln in doc.lines:
        if ln.source == "inferred":
            continue
        if ln.source == "user":
            ln.people = sorted(set(_mentions(ln.text, names))
                               | ({ln.key.split(":", 1)[1]} if ln.key and ln.key.startswith("person:") else set()))
            inf = by_key.get(ln.key) if ln.key else None
            if inf is not None:
                ln.episodes = list(inf.episodes)
                if inf.text != ln.text and ln.seen_inferred != inf.text:
                    contradictions += 1
                    entries.append((f"The nightly pass inferred \u201c{inf.text}\u201d; your line "
                                    f"\u201c{ln.text}\u201d was kept (yours wins).",
                                    sorted(set(ln.people) | set(inf.people)), inf.episodes))
                    ln.seen_inferred = inf.text
        kept.append(ln)
    doc.lines = fresh + kept
    doc.generated_at = now
    save_profile(store, vault, doc)
    add_history(store, vault, entries, now)
    return _report(doc, contradictions=contradictions, history_added=len(entries))


def refresh_profile(ctx: ConsolidationContext, *, now: datetime) -> ProfileReport:
    """The nightly step: :func:`refresh` on the pass's memory (reports progress as one unit)."""
    ctx.report("profile", 0, 1)
    if ctx.cancelled():
        return ProfileReport()
    report = refresh(ctx.store, ctx.vault, ctx.tz, now)
    ctx.report("profile", 1, 1)
    return report


def profile_text(store: Store, vault: Vault) -> str:
    return render(load_profile(store, vault))


__all__ = ["BLOCKS", "ProfileError", "ProfileReport", "infer", "parse", "profile_text", "refresh",
           "refresh_profile", "render", "save_text"]
