"""Face linking benchmark: identification accuracy and the unknown-face rate on public images.

**Gallery** (the KB, built with :meth:`linking.faces.FaceGallery.from_store`): four people, one
picture each --

- Eileen Collins: ``data/faces/eileen-collins.jpg`` (a crop of scikit-image's ``astronaut.png``);
- Lionel Messi: OpenCV's ``messi5.jpg`` (Debian ``opencv-doc``, ``examples/data``);
- Barack Obama: ``obama.jpg`` and Joe Biden: ``biden.jpg``, White House photos in the test images
  of the ``face_recognition`` 1.3.0 source release (fetched once with ``pip download`` into
  ``~/.cache/kgsearch/faces``; sha256 pinned).

**Probes**, each face with a hand-checked box and its person, or "unknown" --

- *different photos* of gallery people: OpenCV's ``inpaint_result.jpg`` (3 faces of Messi, one
  scratched), ``obama2.jpg`` and ``obama3.jpg``, and Obama in OpenCV's ``facereg.jpg`` (landmarks
  drawn on the face);
- *altered copies* of the four gallery photos (for Collins the whole 512x512 photo, not the crop):
  mirrored, half size, darker (gamma 2.2), brighter with low contrast, rotated 15 degrees,
  JPEG quality 15, grey, and cropped to three face widths;
- *unknown people* (not in the gallery): OpenCV's ``basketball1.png``, ``230501201_1.jpg``,
  ``227943776_1.jpg``, ``julia_facedetect_sample.jpg``, ``example.jpg`` (one man three times),
  the three other faces of ``facereg.jpg``, and scikit-image's cameraman (a face in profile);
- *no person*: scikit-image's ``chelsea`` (a cat), ``coffee`` and ``rocket``; and the mission
  patches on the astronaut photo, where a detection is a false face.

Measures: faces found; identification accuracy (detected faces of gallery people linked to the
right person; end to end over all their faces too); the unknown-face rate (detected faces of
unknown people reported NIL, and gallery people's faces reported NIL when that person is left
out of the gallery); false faces; and sweeps of the distance threshold and the HOG score, plus
HOG recall on the 100 face crops (25 px, upscaled 4x) of scikit-image's ``lfw_subset``. The
thresholds were chosen on this same set: its numbers are not held out.

Run: ``python bench/multimodal_faces.py [--cnn]``. Prints tables, writes
bench/results/multimodal-faces.json.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import platform
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image, ImageEnhance, ImageOps  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from kg import OxigraphStore  # noqa: E402
from linking.calibration import expected_calibration_error, fit_platt  # noqa: E402
from linking.faces import (  # noqa: E402
    DEFAULT_THRESHOLD,
    MIN_SCORE,
    FaceEncoder,
    FaceGallery,
    FaceLinker,
    distance_score,
    load_image,
)
from linking.types import Document  # noqa: E402

console = Console()
OPENCV = Path("/usr/share/doc/opencv-doc")
SDIST = "face_recognition-1.3.0.tar.gz"
SDIST_SHA256 = "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec"
SDIST_IMAGES = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")
PEOPLE = "http://kgsearch.org/people/"
COLLINS, MESSI, OBAMA, BIDEN = (PEOPLE + n for n in ("Eileen_Collins", "Lionel_Messi", "Barack_Obama", "Joe_Biden"))
UNKNOWN = None
THRESHOLDS = (0.40, 0.45, 0.50, 0.55, 0.60, 0.65, 0.70)
HOG_SCORES = (-0.5, 0.0, 0.25, 0.5, 0.75, 1.0)

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Source:
    """A picture and its faces: ``(box, person IRI or UNKNOWN)``."""

    name: str
    path: Path
    faces: tuple[tuple[Box, str | None], ...] = ()


def skimage_data() -> Path | None:
    spec = importlib.util.find_spec("skimage")
    return Path(spec.origin).parent / "data" if spec and spec.origin else None


def sdist_images(cache: Path) -> Path | None:
    """The test images of the face_recognition 1.3.0 source release, fetched once with pip."""
    target = cache / "face_recognition-1.3.0"
    if all((target / n).is_file() for n in SDIST_IMAGES):
        return target
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", tmp]
        done = subprocess.run([*cmd, "face_recognition==1.3.0"], capture_output=True, text=True)
        archive = Path(tmp) / SDIST
        if done.returncode or not archive.is_file():
            console.print(f"[yellow]could not fetch {SDIST}: {done.stderr.strip()[-300:]}")
            return None
        if hashlib.sha256(archive.read_bytes()).hexdigest() != SDIST_SHA256:
            console.print(f"[red]{SDIST} does not have the pinned sha256; not used")
            return None
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive) as tar:
            for name in SDIST_IMAGES:
                (target / name).write_bytes(tar.extractfile(f"face_recognition-1.3.0/tests/test_images/{name}").read())
    return target


def describe(path: Path) -> str:
    """Where an image comes from, without this machine's install or cache paths."""
    parts = path.parts
    if "skimage" in parts:
        return "scikit-image:" + "/".join(parts[parts.index("skimage") + 1 :])
    if "face_recognition-1.3.0" in parts:
        return "face_recognition-1.3.0 sdist:tests/test_images/" + path.name
    return str(path)  # Debian's opencv-doc: a system path, the same on every machine


def sources(sk: Path | None, fr: Path | None) -> dict[str, Source]:
    """Every picture used, with hand-checked face boxes (left, top, right, bottom)."""
    html, data = OPENCV / "opencv4" / "html", OPENCV / "examples" / "data"
    all_sources = [
        Source("astronaut", sk / "astronaut.png", (((175, 76, 265, 166), COLLINS),)) if sk else None,
        Source("camera", sk / "camera.png", (((216, 130, 268, 182), UNKNOWN),)) if sk else None,
        Source("chelsea", sk / "chelsea.png") if sk else None,
        Source("coffee", sk / "coffee.png") if sk else None,
        Source("rocket", sk / "rocket.jpg") if sk else None,
        Source("messi5", data / "messi5.jpg", (((225, 94, 261, 130), MESSI),)),
        Source("basketball1", data / "basketball1.png", (((73, 94, 109, 130), UNKNOWN),)),
        Source(
            "inpaint_result",
            html / "inpaint_result.jpg",
            (((52, 39, 114, 101), MESSI), ((60, 205, 112, 257), MESSI), ((285, 211, 337, 262), MESSI)),
        ),
        Source("230501201_1", html / "230501201_1.jpg", (((134, 241, 455, 562), UNKNOWN),)),
        Source("227943776_1", html / "227943776_1.jpg", (((132, 116, 287, 270), UNKNOWN),)),
        Source("julia_facedetect_sample", html / "julia_facedetect_sample.jpg", (((167, 168, 296, 297), UNKNOWN),)),
        Source(
            "facereg",
            html / "facereg.jpg",
            (
                ((17, 18, 80, 80), UNKNOWN),
                ((121, 18, 183, 80), UNKNOWN),
                ((17, 115, 80, 177), UNKNOWN),
                ((114, 115, 176, 177), OBAMA),
            ),
        ),
        Source(
            "example",
            html / "example.jpg",
            (((27, 206, 348, 527), UNKNOWN), ((419, 206, 740, 527), UNKNOWN), ((812, 206, 1133, 527), UNKNOWN)),
        ),
    ]
    if fr:
        all_sources += [
            Source("obama", fr / "obama.jpg", (((349, 142, 617, 409), OBAMA),)),
            Source("obama2", fr / "obama2.jpg", (((171, 290, 438, 558), OBAMA),)),
            Source("obama3", fr / "obama3.jpg", (((653, 324, 924, 593), OBAMA),)),
            Source("biden", fr / "biden.jpg", (((434, 230, 741, 537), BIDEN),)),
        ]
    return {s.name: s for s in all_sources if s is not None and s.path.is_file()}


#: person -> (label, source of the gallery picture); Collins's is the crop in data/faces.
GALLERY = {
    COLLINS: ("Eileen Collins", "collins"),
    MESSI: ("Lionel Messi", "messi5"),
    OBAMA: ("Barack Obama", "obama"),
    BIDEN: ("Joe Biden", "biden"),
}
DIFFERENT_PHOTOS = ("inpaint_result", "obama2", "obama3", "facereg")
UNKNOWN_PHOTOS = ("basketball1", "230501201_1", "227943776_1", "julia_facedetect_sample", "example", "camera")
NO_PERSON = ("chelsea", "coffee", "rocket")
ALTERED = ("astronaut", "messi5", "obama", "biden")


def gallery_kb(src: dict[str, Source]) -> str:
    collins = (ROOT / "data" / "faces" / "eileen-collins.jpg").as_uri()
    files = {COLLINS: collins, **{iri: src[name].path.as_uri() for iri, (_, name) in GALLERY.items() if name in src}}
    return "\n".join(
        f'<{iri}> <http://www.w3.org/2000/01/rdf-schema#label> "{GALLERY[iri][0]}" ; <http://schema.org/image> <{f}> .'
        for iri, f in files.items()
    )


# --- altered copies: (name, function of the image returning (image, box mapping)) ---


def _mirror(im):
    w = im.width
    return ImageOps.mirror(im), lambda b: (w - 1 - b[2], b[1], w - 1 - b[0], b[3])


def _half(im):
    return im.resize((im.width // 2, im.height // 2), Image.BICUBIC), lambda b: tuple(v // 2 for v in b)


def _darker(im):
    a = np.asarray(im, dtype=np.float64) / 255.0
    return Image.fromarray(np.uint8(np.round(255 * a**2.2))), lambda b: b


def _brighter(im):
    return ImageEnhance.Contrast(ImageEnhance.Brightness(im).enhance(1.4)).enhance(0.6), lambda b: b


def _rotated(im):
    out = im.rotate(15, resample=Image.BICUBIC, expand=True)
    cx, cy, ox, oy = im.width / 2, im.height / 2, out.width / 2, out.height / 2
    rad = math.radians(15)

    def move(b):
        x, y = (b[0] + b[2]) / 2 - cx, (b[1] + b[3]) / 2 - cy
        nx, ny = ox + x * math.cos(rad) + y * math.sin(rad), oy - x * math.sin(rad) + y * math.cos(rad)
        h = (b[2] - b[0]) / 2
        return (round(nx - h), round(ny - h), round(nx + h), round(ny + h))

    return out, move


def _grey(im):
    return im.convert("L").convert("RGB"), lambda b: b


def _crop(im, face):
    w = face[2] - face[0]
    left, top = max(0, face[0] - w), max(0, face[1] - w)
    box = (left, top, min(im.width, face[2] + w), min(im.height, face[3] + w))
    return im.crop(box), lambda b: (b[0] - left, b[1] - top, b[2] - left, b[3] - top)


ALTERATIONS = ("mirrored", "half size", "darker", "brighter", "rotated 15", "JPEG q15", "grey", "cropped")


@dataclass
class Probe:
    name: str
    kind: str
    path: Path
    faces: tuple[tuple[Box, str | None], ...]


def probes(src: dict[str, Source], tmp: Path) -> list[Probe]:
    out = [Probe(n, "different photo", src[n].path, src[n].faces) for n in DIFFERENT_PHOTOS if n in src]
    out += [Probe(n, "unknown person", src[n].path, src[n].faces) for n in UNKNOWN_PHOTOS if n in src]
    out += [Probe(n, "no person", src[n].path, ()) for n in NO_PERSON if n in src]
    for name in ALTERED:
        if name not in src:
            continue
        im = Image.fromarray(load_image(src[name].path))
        face = src[name].faces[0][0]
        for kind, make in zip(
            ALTERATIONS, (_mirror, _half, _darker, _brighter, _rotated, None, _grey, None), strict=True
        ):
            if kind == "cropped":
                new, move = _crop(im, face)
            elif kind == "JPEG q15":
                new, move = im, (lambda b: b)
            else:
                new, move = make(im)
            path = tmp / f"{name}-{kind.replace(' ', '_')}.{'jpg' if kind == 'JPEG q15' else 'png'}"
            new.save(path, **({"quality": 15} if kind == "JPEG q15" else {}))
            out.append(Probe(f"{name} {kind}", kind, path, tuple((move(b), who) for b, who in src[name].faces)))
    return out


def _iou(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0, w) * max(0, h)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


@dataclass
class FaceResult:
    probe: str
    kind: str
    truth: str | None  # person IRI; None for unknown people; "false" for a detection of no face
    person: str  # who it is: the IRI, or a name for an unknown person
    score: float
    encoding: np.ndarray
    distances: dict[str, float] = field(default_factory=dict)


def _assign(probe: Probe, boxes: list[Box], scores: list[float]) -> list[int | None]:
    """For each detected box, the index of its face in ``probe.faces``, or ``None`` when it is no
    face (overlap under 0.3 with every face not yet taken; best-scoring detections go first)."""
    found: list[int | None] = [None] * len(boxes)
    for i in sorted(range(len(boxes)), key=lambda i: -scores[i]):
        overlaps = [(_iou(boxes[i], t), k) for k, (t, _) in enumerate(probe.faces) if k not in found]
        best = max(overlaps, default=(0.0, -1))
        if best[0] >= 0.3:
            found[i] = best[1]
    return found


def _truth(probe: Probe, k: int | None) -> str | None:
    return "false" if k is None else probe.faces[k][1]


def _person(probe: Probe, k: int) -> str:
    """The same unknown person in every face of one picture only in example.jpg (one man, thrice)."""
    source = probe.name.split(" ")[0]
    return probe.faces[k][1] or (source if source == "example" else f"{source}#{k}")


def run_linker(linker: FaceLinker, items: list[Probe]) -> dict:
    """The product path: ``FaceLinker.read`` on every probe, counted against the boxes."""
    count = dict.fromkeys(("known", "known_found", "right", "wrong", "known_nil", "unknown", "unknown_found"), 0)
    count |= dict.fromkeys(("unknown_nil", "false_faces", "false_linked"), 0)
    by_kind: dict[str, list[int]] = {}
    seconds, missed = [], []
    for probe in items:
        t = time.perf_counter()
        reading = linker.read(Document(probe.name, path=probe.path, modality="image"))
        seconds.append(time.perf_counter() - t)
        boxes = [tuple(int(v) for v in link.mention.bbox) for link in reading.links]
        found = _assign(probe, boxes, [1.0] * len(boxes))
        labels = [_truth(probe, k) for k in found]
        missed += [f"{probe.name} #{k}" for k in range(len(probe.faces)) if k not in found]
        count["known"] += sum(1 for _, who in probe.faces if who)
        count["unknown"] += sum(1 for _, who in probe.faces if who is None)
        for link, truth in zip(reading.links, labels, strict=True):
            if truth == "false":
                count["false_faces"] += 1
                count["false_linked"] += not link.is_nil
            elif truth is None:
                count["unknown_found"] += 1
                count["unknown_nil"] += link.is_nil
            else:
                count["known_found"] += 1
                right = link.entity_iri == truth
                count["right"] += right
                count["wrong"] += not right and not link.is_nil
                count["known_nil"] += link.is_nil
                by_kind.setdefault(probe.kind, [0, 0])
                by_kind[probe.kind][0] += right
                by_kind[probe.kind][1] += 1
    out = {
        "counts": count,
        "faces_found": _ratio(count["known_found"] + count["unknown_found"], count["known"] + count["unknown"]),
        "identification_accuracy": _ratio(count["right"], count["known_found"]),
        "identification_accuracy_end_to_end": _ratio(count["right"], count["known"]),
        "unknown_face_rate": _ratio(count["unknown_nil"], count["unknown_found"]),
        "accuracy_by_probe_kind": {k: {"right": r, "faces": n} for k, (r, n) in by_kind.items()},
        "missed_faces": missed,
        "seconds_per_image_mean": round(sum(seconds) / len(seconds), 3),
        "images": len(items),
    }
    return out


def _short(person: str) -> str:
    return person.removeprefix(PEOPLE)


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def collect(encoder: FaceEncoder, gallery: FaceGallery, items: list[Probe]) -> list[FaceResult]:
    """Every detection down to the lowest swept score, with its distance to each gallery person."""
    results = []
    for probe in items:
        faces = encoder.faces(load_image(probe.path))
        for face, k in zip(faces, _assign(probe, [f.box for f in faces], [f.score for f in faces]), strict=True):
            d = {i.iri: float(np.min(np.linalg.norm(i.encodings - face.encoding, axis=1))) for i in gallery.identities}
            person = "false" if k is None else _person(probe, k)
            results.append(FaceResult(probe.name, probe.kind, _truth(probe, k), person, face.score, face.encoding, d))
    return results


def summary(results: list[FaceResult], items: list[Probe], min_score: float, threshold: float) -> dict:
    """What the linker would report with these two thresholds, from collected detections."""
    kept = [r for r in results if r.score >= min_score]
    known = [r for r in kept if r.truth not in (None, "false")]
    unknown = [r for r in kept if r.truth is None]
    false = [r for r in kept if r.truth == "false"]
    faces = [who for p in items for _, who in p.faces]
    right = sum(
        1 for r in known if min(r.distances, key=r.distances.get) == r.truth and r.distances[r.truth] < threshold
    )
    return {
        "min_score": min_score,
        "faces_found": f"{len(known) + len(unknown)}/{len(faces)}",
        "identification_accuracy": _ratio(right, len(known)),
        "identification_accuracy_end_to_end": _ratio(right, sum(1 for who in faces if who)),
        "unknown_face_rate": _ratio(sum(1 for r in unknown if min(r.distances.values()) >= threshold), len(unknown)),
        "false_faces": len(false),
        "false_faces_linked": sum(1 for r in false if min(r.distances.values()) < threshold),
    }


def margin(results: list[FaceResult]) -> dict:
    """The lowest detector score of a real face and the highest of a false one."""
    real = [(round(r.score, 3), r.probe) for r in results if r.truth != "false"]
    false = [(round(r.score, 3), r.probe) for r in results if r.truth == "false"]
    return {"lowest_face": min(real, default=None), "highest_false_face": max(false, default=None)}


def pair_distances(results: list[FaceResult], gallery: FaceGallery, min_score: float) -> dict:
    """Distances between faces of different people (every pair of detected faces and gallery
    pictures), and between a gallery picture and a different photo of the same person."""
    faces = [(r.person, r.encoding) for r in results if r.score >= min_score and r.person != "false"]
    faces += [(i.iri, e) for i in gallery.identities for e in i.encodings]
    people = np.array([p for p, _ in faces])
    vectors = np.array([e for _, e in faces])
    d = np.linalg.norm(vectors[:, None] - vectors[None], axis=-1)
    upper = np.triu(np.ones_like(d, dtype=bool), k=1)
    mask = upper & (people[:, None] != people[None])
    order = np.argsort(d[mask])
    rows, cols = np.nonzero(mask)
    impostor = d[mask][order]
    closest = [
        (_short(people[rows[k]]), _short(people[cols[k]]), round(float(d[rows[k], cols[k]]), 3)) for k in order[:5]
    ]
    genuine = sorted(
        round(r.distances[r.truth], 3)
        for r in results
        if r.score >= min_score and r.kind == "different photo" and r.truth
    )
    return {
        "different_people_pairs": int(impostor.size),
        "different_people_closest": closest,
        "different_people_under": {str(t): int(np.sum(impostor < t)) for t in THRESHOLDS},
        "same_person_different_photo": genuine,
    }


def sweep_thresholds(results: list[FaceResult], min_score: float) -> list[dict]:
    kept = [r for r in results if r.score >= min_score]
    known = [r for r in kept if r.truth not in (None, "false")]
    unknown = [r for r in kept if r.truth is None]
    rows = []
    for t in THRESHOLDS:
        right = sum(1 for r in known if min(r.distances, key=r.distances.get) == r.truth and r.distances[r.truth] < t)
        wrong = sum(
            1 for r in known if min(r.distances, key=r.distances.get) != r.truth and min(r.distances.values()) < t
        )
        nil = sum(1 for r in unknown if min(r.distances.values()) >= t)
        left_out = [min((d for iri, d in r.distances.items() if iri != r.truth), default=9) for r in known]
        rows.append(
            {
                "threshold": t,
                "identification_accuracy": _ratio(right, len(known)),
                "wrong_person": wrong,
                "unknown_face_rate": _ratio(nil, len(unknown)),
                "left_out_nil_rate": _ratio(sum(1 for d in left_out if d >= t), len(left_out)),
                "known_faces": len(known),
                "unknown_faces": len(unknown),
            }
        )
    return rows


def sweep_detector(results: list[FaceResult], faces_total: int, lfw: dict | None) -> list[dict]:
    rows = []
    for s in HOG_SCORES:
        kept = [r for r in results if r.score >= s]
        row = {
            "min_score": s,
            "faces_found": sum(1 for r in kept if r.truth != "false"),
            "faces": faces_total,
            "false_faces": sum(1 for r in kept if r.truth == "false"),
        }
        if lfw:
            row["lfw_faces_found"] = int(np.sum(lfw["faces"] >= s))
            row["lfw_non_faces_found"] = int(np.sum(lfw["non_faces"] >= s))
        rows.append(row)
    return rows


def lfw_scores(sk: Path | None) -> dict | None:
    """Best HOG score per crop of scikit-image's lfw_subset (100 faces, then 100 non-faces), 25 px
    crops upscaled 4x and padded by 20 px of their edge, so the detector sees a whole head."""
    if sk is None or not (sk / "lfw_subset.npy").is_file():
        return None
    encoder = FaceEncoder(min_score=-1.0, upsample=0)
    best = []
    for crop in np.load(sk / "lfw_subset.npy"):
        im = Image.fromarray(np.uint8(np.round(crop * 255))).resize((100, 100), Image.BICUBIC)
        a = np.pad(np.asarray(im), 20, mode="edge")
        found = encoder.detect(np.stack([a] * 3, axis=-1))
        best.append(max((s for _, s in found), default=-9.0))
    best = np.array(best)
    return {"faces": best[:100], "non_faces": best[100:]}


def calibration(results: list[FaceResult], threshold: float, min_score: float) -> dict:
    """How well ``distance_score`` reads as "this is the person": every (face, gallery person) pair."""
    z, y = [], []
    for r in results:
        if r.score < min_score or r.truth == "false":
            continue
        for iri, d in r.distances.items():
            z.append(threshold - d)
            y.append(int(iri == r.truth))
    probs = [distance_score(threshold - v, threshold) for v in z]
    a, b = fit_platt(z, y)
    return {
        "pairs": len(y),
        "same_person_pairs": sum(y),
        "ece": round(expected_calibration_error(probs, y), 4),
        "platt_scale": round(1 / a, 4),
        "platt_centre": round(threshold + b / a, 4),
    }


def machine() -> dict:
    import os

    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()}


def print_tables(report: dict) -> None:
    main = report["linker"]
    t = Table(title=f"Face linking, HOG >= {report['min_score']}, distance < {report['threshold']}")
    for col in ("faces found", "identification acc.", "end to end", "unknown-face rate", "false faces", "s/image"):
        t.add_column(col, justify="right")
    c = main["counts"]
    t.add_row(
        f"{c['known_found'] + c['unknown_found']}/{c['known'] + c['unknown']}",
        f"{main['identification_accuracy']:.3f} ({c['right']}/{c['known_found']})",
        f"{main['identification_accuracy_end_to_end']:.3f}",
        f"{main['unknown_face_rate']:.3f} ({c['unknown_nil']}/{c['unknown_found']})",
        f"{c['false_faces']} ({c['false_linked']} linked)",
        f"{main['seconds_per_image_mean']:.2f}",
    )
    console.print(t)
    k = Table(title="Right person by probe kind")
    k.add_column("probe kind")
    k.add_column("right", justify="right")
    for kind, v in main["accuracy_by_probe_kind"].items():
        k.add_row(kind, f"{v['right']}/{v['faces']}")
    console.print(k)
    s = Table(title="Distance threshold (detected faces)")
    for col in ("threshold", "identification acc.", "wrong person", "unknown-face rate", "left-out person NIL"):
        s.add_column(col, justify="right")
    for row in report["threshold_sweep"]:
        s.add_row(
            *(str(row[key]) for key in ("threshold", "identification_accuracy", "wrong_person")),
            str(row["unknown_face_rate"]),
            str(row["left_out_nil_rate"]),
        )
    console.print(s)
    d = Table(title="HOG score threshold")
    cols = ["min_score", "faces_found", "false_faces", "lfw_faces_found", "lfw_non_faces_found"]
    for col in cols:
        d.add_column(col, justify="right")
    for row in report["detector_sweep"]:
        d.add_row(*(str(row.get(key, "")) for key in cols))
    console.print(d)
    console.print(f"HOG scores: {report['detector_margin']}")
    if "cnn" in report:
        cnn = report["cnn"]
        c = Table(title=f"CNN detector ({cnn['settings']}; {cnn['seconds_per_image_mean']:.1f} s/image)")
        cols = list(cnn["at"][0])
        for col in cols:
            c.add_column(col.replace("_", " "), justify="right")
        for row in cnn["at"]:
            c.add_row(*(str(row[col]) for col in cols))
        console.print(c)
        console.print(f"CNN scores: {cnn['margin']}")
    console.print(f"score calibration: {report['calibration']}")
    console.print(f"pair distances: {report['pairs']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "kgsearch" / "faces")
    ap.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    ap.add_argument("--cnn", action="store_true", help="also run the CNN detector (minutes on a CPU)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "multimodal-faces.json")
    args = ap.parse_args()
    sk = skimage_data()
    fr = sdist_images(args.cache)
    src = sources(sk, fr)
    report: dict = {"benchmark": "multimodal-faces", "machine": machine(), "threshold": args.threshold}
    report["min_score"] = MIN_SCORE["hog"]
    report["sources"] = {name: describe(s.path) for name, s in src.items()}
    missing = sorted({name for _, name in GALLERY.values()} - {"collins"} - set(src))
    if missing:
        console.print(f"[yellow]missing gallery pictures: {missing} (apt-get install opencv-doc; network for pip)")
    store = OxigraphStore()
    store.update(f"INSERT DATA {{ {gallery_kb(src)} }}")
    with tempfile.TemporaryDirectory() as tmp:
        gallery = FaceGallery.from_store(store)
        report["gallery"] = {
            "people": [i.label for i in gallery.identities],
            "problems": [p.reason for p in gallery.problems],
        }
        items = probes(src, Path(tmp))
        linker = FaceLinker(gallery, threshold=args.threshold)
        report["linker"] = run_linker(linker, items)
        results = collect(FaceEncoder(min_score=min(HOG_SCORES)), gallery, items)
        total = sum(len(p.faces) for p in items)
        report["pairs"] = pair_distances(results, gallery, MIN_SCORE["hog"])
        report["threshold_sweep"] = sweep_thresholds(results, MIN_SCORE["hog"])
        report["detector_sweep"] = sweep_detector(results, total, lfw_scores(sk))
        real = [r for r in results if r.truth != "false"]
        report["detector_margin"] = {
            "lowest_face": min(((round(r.score, 3), r.probe) for r in real), default=None),
            "highest_false_face": max(
                ((round(r.score, 3), r.probe) for r in results if r.truth == "false"), default=None
            ),
        }
        report["calibration"] = calibration(results, args.threshold, MIN_SCORE["hog"])
        report["probes"] = {p.name: {"kind": p.kind, "faces": len(p.faces)} for p in items}
        report["false_faces"] = [
            {"probe": r.probe, "hog_score": round(r.score, 3), "nearest": round(min(r.distances.values()), 3)}
            for r in results
            if r.truth == "false"
        ]
        if args.cnn:
            # The CNN on a CPU: images shrunk to 640 px and doubled once, every detection it makes.
            t = time.perf_counter()
            cnn = collect(FaceEncoder("cnn", min_score=0.0, upsample=1, max_side=640), gallery, items)
            report["cnn"] = {
                "settings": "upsample 1, max_side 640",
                "seconds_per_image_mean": round((time.perf_counter() - t) / len(items), 3),
                "margin": margin(cnn),
                "at": [summary(cnn, items, s, args.threshold) for s in (0.0, 0.25, 0.5, 0.75, 1.0)],
            }
    print_tables(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
