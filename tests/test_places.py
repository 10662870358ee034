"""Issue #15 (part 1): places, from GPS in the media's own metadata, or from recurring scenes.

Real clips composed from the sample media with an ISO 6709 location written into the MP4/MOV
by PyAV (FFmpeg), real photos with EXIF GPS written by Pillow, imported by the real pipeline
into a real memory; reverse geocoding runs offline with every socket blocked.
"""

from __future__ import annotations

import math
import shutil
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import pytest
from helpers import cli_env, error_line, json_doc, run_cli

T0 = datetime(2024, 5, 14, 9, 0, tzinfo=UTC)
EDI = "+55.9533-003.1883+050.000/"  # Edinburgh, by the Royal Mile
EDI_50M = "+55.9537-003.1880/"  # ~50 m from it
EDI_120M = "+55.9543-003.1877/"  # ~120 m from the first, ~70 m from the second
SYDNEY = "-33.8688+151.2093/"  # 17,000 km away

pytestmark = [pytest.mark.media]


# ------------------------------------------------------------------ making media
def with_location(src: Path, dst: Path, location: str, fmt: str = "mp4") -> Path:
    """Copy the video of ``src`` into a new file whose container carries ``location``."""
    with av.open(str(src)) as i, av.open(str(dst), "w", format=fmt) as o:
        ct = i.metadata.get("creation_time")
        if ct:
            o.metadata["creation_time"] = ct
        o.metadata["location"] = location
        ovs = o.add_stream_from_template(i.streams.video[0])
        for pkt in i.demux(i.streams.video[0]):
            if pkt.dts is None:
                continue
            pkt.stream = ovs
            o.mux(pkt)
    src.unlink()
    return dst


def clip(media: Any, root: Path, name: str, image: str, at: datetime, location: str | None = None,
         fmt: str = "mp4", size: tuple[int, int] = (320, 240), **kw: Any) -> Path:
    from lifelog.sample.compose import make_clip  # test data only

    raw = make_clip(root / f"raw-{name}.mp4", media.path(image), 2, at, fps=5, size=size, **kw)
    if location is None:
        return raw.rename(root / f"{name}.mp4")
    return with_location(raw, root / f"{name}.{fmt}", location, fmt)


def dms(deg: float) -> tuple[float, float, float]:
    d = abs(deg)
    whole = math.floor(d)
    minutes = math.floor((d - whole) * 60)
    seconds = round(((d - whole) * 60 - minutes) * 60, 4)
    return (float(whole), float(minutes), seconds)


def gps_photo(media: Any, dst: Path, image: str, at: datetime, lat: float, lon: float) -> Path:
    """A JPEG with EXIF DateTimeOriginal and a GPS position (degrees, minutes, seconds)."""
    from PIL import Image

    with Image.open(media.path(image)) as im:
        rgb = im.convert("RGB")
        rgb.thumbnail((320, 320))
        exif = Image.Exif()
        exif.get_ifd(0x8769)[0x9003] = at.strftime("%Y:%m:%d %H:%M:%S")
        exif.get_ifd(0x8769)[0x9011] = "+00:00"
        gps = exif.get_ifd(0x8825)
        gps[1] = "N" if lat >= 0 else "S"
        gps[2] = dms(lat)
        gps[3] = "E" if lon >= 0 else "W"
        gps[4] = dms(lon)
        rgb.save(dst, exif=exif)
    return dst


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every attempt to open a connection (or resolve a name) fails, and is recorded."""
    tried: list[Any] = []

    def refuse(*a: Any, **k: Any) -> Any:
        tried.append(a)
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield tried


# ------------------------------------------------------------------ pure checks
def test_fixes_are_checked_and_iso6709_parsed() -> None:
    from lifelog.ingest.geo import GeoFix, check_fix, implausible_jump, parse_iso6709

    r = parse_iso6709(EDI)
    assert r.fix is not None and r.reason is None
    assert (round(r.fix.lat, 4), round(r.fix.lon, 4), r.fix.alt) == (55.9533, -3.1883, 50.0)
    assert parse_iso6709("+00.0000+000.0000/").reason == "GPS position is (0, 0): the receiver had no fix"
    assert "out of range" in (parse_iso6709("+95.0000+010.0000/").reason or "")
    assert "out of range" in (parse_iso6709("+45.0000+200.0000/").reason or "")
    assert "ISO 6709" in (parse_iso6709("somewhere nice").reason or "")
    assert check_fix(float("nan"), 3.0).reason == "GPS position is not a number"
    here = GeoFix(55.9533, -3.1883)
    why = implausible_jump(GeoFix(-33.8688, 151.2093), T0 + timedelta(minutes=1), [(T0, here)])
    assert why is not None and "km in 1.0 min" in why
    # the same 17,000 km over two days is a flight, not a fault; 50 m in a minute is walking
    assert implausible_jump(GeoFix(-33.8688, 151.2093), T0 + timedelta(days=2), [(T0, here)]) is None
    assert implausible_jump(GeoFix(55.9537, -3.1880), T0 + timedelta(minutes=1), [(T0, here)]) is None


def test_location_read_from_mp4_mov_and_exif(tmp_path: Path, media: Any) -> None:
    from PIL import Image

    from lifelog.ingest.geo import photo_location, read_location, video_location

    mp4 = clip(media, tmp_path, "a", "chelsea.png", T0, EDI)
    mov = clip(media, tmp_path, "b", "chelsea.png", T0, SYDNEY, fmt="mov")
    bare = clip(media, tmp_path, "c", "chelsea.png", T0)
    fix = read_location(mp4, "video").fix
    assert fix is not None and abs(fix.lat - 55.9533) < 1e-6 and abs(fix.lon + 3.1883) < 1e-6
    # the ©xyz atom of a MOV, read without FFmpeg's help (no metadata given)
    raw = video_location(mov, metadata={}).fix
    assert raw is not None and abs(raw.lat + 33.8688) < 1e-6 and abs(raw.lon - 151.2093) < 1e-6
    assert read_location(bare, "video").fix is None and read_location(bare, "video").reason is None
    jpg = gps_photo(media, tmp_path / "p.jpg", "coffee.png", T0, 40.7128, -74.0060)
    pfix = read_location(jpg, "photo").fix
    assert pfix is not None and abs(pfix.lat - 40.7128) < 1e-4 and abs(pfix.lon + 74.0060) < 1e-4
    far = gps_photo(media, tmp_path / "q.jpg", "coffee.png", T0, 95.0, 10.0)
    with Image.open(far) as im:
        assert "out of range" in (photo_location(im.getexif()).reason or "")


# ------------------------------------------------------------------ a real memory
@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, media: Any, models_ready: None) -> dict[str, Any]:
    """One memory: two clips in Edinburgh 50 m apart, a photo in New York, a clip whose GPS
    says (0, 0), a clip 17,000 km from the previous one 40 s later, a sign seen twice and a
    cat seen twice without GPS, a rocket once."""
    from lifelog.api import Memory

    root = tmp_path_factory.mktemp("places")
    src = root / "src"
    src.mkdir()
    files = [
        clip(media, src, "edi1", "obama.jpg", T0, EDI),
        clip(media, src, "edi2", "astronaut.png", T0 + timedelta(hours=2), EDI_50M, fmt="mov"),
        clip(media, src, "jump", "fruits.jpg", T0 + timedelta(hours=2, seconds=40), SYDNEY),
        clip(media, src, "zero", "flower.jpg", T0 + timedelta(hours=3), "+00.0000+000.0000/"),
        gps_photo(media, src / "nyc.jpg", "coffee.png", T0 + timedelta(days=2), 40.7128, -74.0060),
        clip(media, src, "sign1", "scenetext01.jpg", T0 + timedelta(hours=4), effect="static",
             size=(640, 480)),
        clip(media, src, "sign2", "scenetext01.jpg", T0 + timedelta(days=1, hours=4), effect="pan", seed=3,
             size=(640, 480)),
        clip(media, src, "cat1", "chelsea.png", T0 + timedelta(hours=5)),
        clip(media, src, "cat2", "chelsea.png", T0 + timedelta(days=1, hours=5), effect="zoom_in", seed=5),
        clip(media, src, "rocket", "rocket.jpg", T0 + timedelta(days=1, hours=6)),
    ]
    data = root / "memory"
    mem = Memory(data)
    result = mem.import_paths(files)
    assert result.imported == len(files), [w.error for w in result.warnings]
    eps = {Path(r["path"]).stem: r["id"] for r in mem.store.rows("media", columns=["id", "path"]).to_pylist()}
    episodes: dict[str, str] = {}
    for r in mem.store.rows("episodes", columns=["id", "media_id"]).to_pylist():
        episodes[next(k for k, v in eps.items() if v == r["media_id"])] = r["id"]
    return {"data": data, "result": result, "media": eps, "episodes": episodes}


def copy_of(built: dict[str, Any], dest: Path) -> Path:
    shutil.copytree(built["data"], dest)
    return dest


def by_episode(places: list[Any], episodes: dict[str, str], mem: Any) -> dict[str, Any]:
    from lifelog.api.places import places_of

    at = places_of(mem, list(episodes.values()))
    return {name: at.get(eid) for name, eid in episodes.items()}


def test_gps_places_named_offline(built: dict[str, Any], no_network: list[Any], tmp_path: Path) -> None:
    from lifelog.api import Memory
    from lifelog.api.places import episodes_at, list_places, refresh_places

    mem = Memory(copy_of(built, tmp_path / "m"))
    refresh_places(mem)  # derived again, here with every socket blocked (geocoding included)
    places = list_places(mem)
    at = by_episode(places, built["episodes"], mem)
    edi = at["edi1"]
    assert edi is not None and edi.kind == "gps" and edi.name == "Edinburgh, Scotland, GB"
    assert edi.name_source == "geocode" and edi.episodes == 2 and at["edi2"] == edi
    nyc = at["nyc"]
    assert nyc is not None and nyc.kind == "gps" and nyc.name == "New York City, New York, US"
    assert nyc.episodes == 1 and nyc.id != edi.id
    assert edi.first_seen is not None and edi.first_seen.astimezone(UTC) == T0
    assert [v.episode_id for v in episodes_at(mem, edi.id)] == [built["episodes"]["edi1"], built["episodes"]["edi2"]]
    assert no_network == []


def test_absurd_gps_is_dropped_with_a_reason(built: dict[str, Any]) -> None:
    from helpers import store_rows

    reasons = {w.path.rsplit("/", 1)[-1]: w.error for w in built["result"].warnings}
    assert reasons["zero.mp4"] == "GPS position is (0, 0): the receiver had no fix"
    from lifelog.ingest.geo import haversine_km, parse_iso6709

    a, b = parse_iso6709(EDI_50M).fix, parse_iso6709(SYDNEY).fix
    assert a is not None and b is not None and haversine_km(a, b) > 10_000
    assert f"jumps {haversine_km(a, b):,.0f} km in 0.7 min" in reasons["jump.mp4"]
    rows = {r["id"]: r for r in store_rows(built["data"], "media_geo")}
    media = built["media"]
    for name in ("zero", "jump"):
        row = rows[media[name]]
        assert row["status"] == "dropped" and row["fix_enc"] is None and row["reason"] == reasons[f"{name}.mp4"]
    assert rows[media["edi1"]]["status"] == "ok" and rows[media["edi1"]]["fix_enc"]
    assert media["cat1"] not in rows  # no location at all: no row
    # a dropped position puts the clip nowhere (its scene is not recurring either)
    from lifelog.api import Memory
    from lifelog.api.places import place_of

    mem = Memory(built["data"])
    assert place_of(mem, built["episodes"]["jump"]) is None
    assert place_of(mem, built["episodes"]["zero"]) is None


def test_coordinates_are_encrypted_at_rest(built: dict[str, Any]) -> None:
    data: Path = built["data"]
    needles = [b"55.9533", b"-3.1883", b"55.95", b"40.7128", b"Edinburgh", b"New York"]
    for p in data.rglob("*"):
        if p.is_file():
            blob = p.read_bytes()
            for n in needles:
                assert n not in blob, f"{n!r} in plain text in {p.relative_to(data)}"


def test_recurring_scenes_without_gps_and_a_sign_name(built: dict[str, Any]) -> None:
    from lifelog.api import Memory
    from lifelog.api.places import list_places

    mem = Memory(built["data"])
    at = by_episode(list_places(mem), built["episodes"], mem)
    sign, cat = at["sign1"], at["cat1"]
    assert sign is not None and sign.kind == "scene" and at["sign2"] == sign and sign.episodes == 2
    assert sign.name == "NOTICE" and sign.name_source == "sign"  # the top line of the sign read in both
    assert cat is not None and cat.kind == "scene" and at["cat2"] == cat and cat.name is None
    assert cat.label == "a recurring scene" and cat.id != sign.id
    assert at["rocket"] is None  # seen once: not a place


def test_cli_names_a_place_and_it_survives_reclustering(built: dict[str, Any], tmp_path: Path, media: Any) -> None:
    from lifelog.api import Memory
    from lifelog.api.places import place_of

    data = copy_of(built, tmp_path / "m")
    env = cli_env()
    listed = json_doc(run_cli(data, "places", "--json", env=env))
    edi = next(p for p in listed if p["name"] == "Edinburgh, Scotland, GB")
    cat = next(p for p in listed if p["kind"] == "scene" and p["name"] is None)
    named = run_cli(data, "places", "name", edi["id"], "home", "--json", env=env)
    assert named.returncode == 0, named.stderr
    assert json_doc(named)["name"] == "home" and json_doc(named)["name_source"] == "user"
    # two places cannot share a name: questions about "home" must mean one place
    clash = run_cli(data, "places", "name", cat["id"], "  HOME ", env=env)
    assert clash.returncode == 2 and "already called 'home'" in error_line(clash)
    assert run_cli(data, "places", "name", cat["id"], "   ", env=env).returncode == 2
    unknown = run_cli(data, "places", "name", "nowhere", "gym", env=env)
    assert unknown.returncode == 2 and "no place with id 'nowhere'" in error_line(unknown)
    assert run_cli(data, "places", "name", cat["id"], "the cat's room", env=env).returncode == 0
    # re-clustering (the nightly pass) and a new clip 70 m away keep the names and the ids
    src = tmp_path / "src"
    src.mkdir()
    more = clip(media, src, "edi3", "camera.png", T0 + timedelta(days=3), EDI_120M)
    mem = Memory(data)
    assert mem.import_paths([more]).imported == 1
    again = run_cli(data, "places", "refresh", "--json", env=env)
    assert again.returncode == 0 and json_doc(again)["new"] == []
    after = {p["id"]: p for p in json_doc(run_cli(data, "places", "--json", env=env))}
    assert after[edi["id"]]["name"] == "home" and after[edi["id"]]["episodes"] == 3
    assert after[cat["id"]]["name"] == "the cat's room"
    new_ep = next(r["id"] for r in mem.store.rows("episodes", columns=["id", "start"]).to_pylist()
                  if r["start"] == T0 + timedelta(days=3))
    p = place_of(mem, new_ep)
    assert p is not None and p.id == edi["id"]
    text = run_cli(data, "places", env=env)
    assert text.returncode == 0 and f"{edi['id']}  home  [gps]  3 episodes" in text.stdout


def test_forget_cascades_to_places_and_leaves_no_coordinates(built: dict[str, Any], tmp_path: Path) -> None:
    from lifelog.api import Memory
    from lifelog.api.places import forget_place, list_places
    from lifelog.api.privacy import ForgetRequest

    data = copy_of(built, tmp_path / "m")
    mem = Memory(data)
    media, episodes = built["media"], built["episodes"]
    geo = {r["id"]: r["fix_enc"] for r in mem.store.rows("media_geo").to_pylist()}
    places = {r["id"]: r for r in mem.store.rows("places").to_pylist()}
    at = by_episode(list_places(mem), episodes, mem)
    edi, nyc = at["edi1"], at["nyc"]
    assert edi is not None and nyc is not None

    def on_disk(needle: bytes) -> bool:
        return any(needle in p.read_bytes() for p in data.rglob("*") if p.is_file())

    needles = {"edi1 fix": geo[media["edi1"]], "nyc fix": geo[media["nyc"]],
               "nyc centre": places[nyc.id]["center_enc"], "nyc name": places[nyc.id]["name_enc"]}
    assert all(on_disk(n) for n in needles.values())  # the scan finds them before
    # forgetting one of Edinburgh's two episodes: its fix goes, the place stays with one
    mem.forget(ForgetRequest("episode", episodes["edi1"]))
    left = {p.id: p for p in list_places(mem)}
    assert left[edi.id].episodes == 1
    # forgetting New York's only episode: the place goes with it
    mem.forget(ForgetRequest("episode", episodes["nyc"]))
    assert nyc.id not in {p.id for p in list_places(mem)}
    assert mem.store.count("places", f"id = '{nyc.id}'") == 0
    found = [what for what, n in needles.items() if on_disk(n)]
    assert found == [], f"still on disk after forget: {found}"
    # forgetting a place forgets what was recorded there
    res = forget_place(mem, edi.id)
    assert res.plan.episodes == [episodes["edi2"]]
    assert edi.id not in {p.id for p in list_places(mem)}
    assert mem.store.count("episodes", f"id = '{episodes['edi2']}'") == 0
    gone = run_cli(data, "places", "forget", edi.id, "--yes", env=cli_env())
    assert gone.returncode == 2 and f"no place {edi.id!r}" in error_line(gone)
