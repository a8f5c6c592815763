"""A synthetic beating-heart short-axis cine with exact labels, for tests and demos.

The phantom imitates a bSSFP cine stack: bright LV and RV blood pools, a dark-grey LV
myocardium, a crescent RV wrapped around the septum, papillary muscles inside the LV
(labelled LV, as in ACDC and M&Ms), chest wall with bright subcutaneous fat, dark lungs,
a bright descending aorta, spine and liver, a smooth coil-sensitivity field, a little
blur and Rician noise. Nothing is read from disk.

Anatomy (millimetres, heart-local): the LV endocardium and epicardium are half
ellipsoids truncated at the base plane; slice ``k`` lies ``(k + 0.3) * dz`` below the
base, so slice 0 is basal and the last slices are apical (myocardial cap, then nothing).
The endocardium shrinks radially and longitudinally over a smooth periodic contraction
curve (end-diastole at frame 0, end-systole at ``round(0.375 * n_frames)``); the
epicardium follows so that the analytic myocardial volume is constant, so the wall
thickens in systole. The RV is a crescent outside the LV epicardium, thinning towards
the apex and absent in apical slices. Fields of view smaller than 260 mm scale the
anatomy down so that the heart still fits.

Intensities are in arbitrary units with blood near 1.0 (before the coil field). Labels
are the exact canonical maps (0 background, 1 LV, 2 MYO, 3 RV) the image was drawn from.
``cine.meta`` holds the truth: per-frame volumes in millilitres counted from the labels
(``volumes_ml``), the continuous model's slice-summation volumes (``model_volumes_ml``),
ED/ES frames, ejection fractions and LV mass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from CardiacSSLLib.cine import Cine, Geometry
from CardiacSSLLib.errors import InputError
from CardiacSSLLib.labels import LV, MYO, NAMES, RV
from CardiacSSLLib.metrics.clinical import MYO_DENSITY_G_PER_ML
from CardiacSSLLib.phantom_scanner import acquire

# Stack axis (apex -> base, LPS) of Sunnybrook SCD0000101, an oblique SAX stack. The image x
# axis is the patient's left projected into that plane, so the RV (drawn at the image's left,
# as in ACDC arrays) lies right-anterior of the LV, as in a patient.
SAX_NORMAL = (-0.6706, 0.6629, 0.3329)
_REFERENCE_FOV_MM = 260.0
_ES_PHASE = 0.375

# Intensities before the coil field (bSSFP-like: blood and fat bright, muscle dark-grey).
_I_AIR, _I_LUNG, _I_TISSUE, _I_FAT, _I_LIVER, _I_BONE = 0.0, 0.05, 0.36, 0.85, 0.42, 0.18
_I_LV_BLOOD, _I_RV_BLOOD, _I_MYO, _I_PAPILLARY, _I_EPI_FAT = 1.0, 0.95, 0.22, 0.25, 0.75


@dataclass(frozen=True)
class _Heart:
    """Randomised anatomy of one phantom (millimetres, radians)."""

    centre: tuple[float, float]  # LV centre at the base, relative to the image centre (x, y)
    tilt: tuple[float, float]  # in-plane shift of the LV centre per mm towards the apex
    a_endo: float  # ED endocardial semi-axes at the base and length
    b_endo: float
    c_endo: float
    wall: float  # ED wall thickness (in-plane and at the apex)
    psi: float  # in-plane orientation of the LV ellipse
    k_radial: float  # fractional radial / longitudinal endocardial shortening at ES
    k_long: float
    rv_angle: float  # direction of the RV from the LV centre (image x right, y down)
    rv_thickness: float  # ED RV crescent thickness at the base
    rv_halfwidth: float  # angular half-width of the crescent at the base
    rv_length: float  # RV extent below the base
    k_rv: float  # fractional RV thickness shortening at ES


def contraction(phase: np.ndarray | float, es_phase: float = _ES_PHASE) -> np.ndarray:
    """Smooth periodic contraction in [0, 1]: 0 at ED (phase 0), 1 at ES (``es_phase``).

    Cosine ejection up to ``es_phase`` and cosine filling after it; continuous with a
    continuous first derivative over the whole cycle (phase in [0, 1)).
    """
    phi = np.mod(np.asarray(phase, dtype=float), 1.0)
    systole = 0.5 * (1.0 - np.cos(np.pi * phi / es_phase))
    diastole = 0.5 * (1.0 + np.cos(np.pi * (phi - es_phase) / (1.0 - es_phase)))
    return np.where(phi <= es_phase, systole, diastole)


def sax_direction() -> tuple[float, ...]:
    """Orthonormal, right-handed direction matrix (row-major, columns = x, y, z axes)."""
    normal = np.asarray(SAX_NORMAL, dtype=float)
    normal /= np.linalg.norm(normal)
    row = np.array([1.0, 0.0, 0.0]) - normal[0] * normal  # the patient's left, in the plane
    row /= np.linalg.norm(row)
    col = np.cross(normal, row)
    return tuple(float(v) for v in np.stack([row, col, normal], axis=1).ravel())


def _random_heart(rng: np.random.Generator, scale: float, slab_mm: float) -> _Heart:
    def jitter(value: float, rel: float) -> float:
        return float(value * (1.0 + rel * rng.uniform(-1.0, 1.0)))

    ef = rng.uniform(0.56, 0.64)
    k_long = jitter(0.10, 0.2)
    k_radial = 1.0 - np.sqrt((1.0 - ef) / (1.0 - k_long))  # slice-summed volume ~ a * b * c
    a_endo = jitter(28.0, 0.06) * scale
    return _Heart(
        centre=(jitter(16.0, 0.3) * scale, jitter(-18.0, 0.3) * scale),
        tilt=(rng.uniform(-0.08, 0.08), rng.uniform(-0.08, 0.08)),
        a_endo=a_endo,
        b_endo=a_endo * rng.uniform(0.86, 0.94),
        c_endo=0.80 * slab_mm,
        wall=jitter(8.5, 0.08) * scale,
        psi=rng.uniform(0.0, np.pi),
        k_radial=float(k_radial),
        k_long=k_long,
        rv_angle=np.deg2rad(200.0 + rng.uniform(-12.0, 12.0)),
        rv_thickness=jitter(31.0, 0.1) * scale,
        rv_halfwidth=np.deg2rad(jitter(88.0, 0.08)),
        rv_length=0.72 * 0.80 * slab_mm,
        k_rv=jitter(0.45, 0.08),
    )


def _ellipse_radius(phi: np.ndarray, a: np.ndarray, b: np.ndarray, psi: float) -> np.ndarray:
    """Polar radius at angle ``phi`` of an ellipse with semi-axes a, b rotated by psi."""
    d = phi - psi
    return a * b / np.sqrt((b * np.cos(d)) ** 2 + (a * np.sin(d)) ** 2 + 1e-12)


def _disk(x: np.ndarray, y: np.ndarray, cx: float, cy: float, rx: float, ry: float | None = None) -> np.ndarray:
    ry = rx if ry is None else ry
    return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0


def _background(
    x: np.ndarray, y: np.ndarray, s: float, slab: float, heart: _Heart, scale: float, fov: tuple[float, float]
) -> np.ndarray:
    """Static thorax around the heart for one slice (``x``, ``y`` in mm from the image centre).

    Image up is anterior: chest wall and subcutaneous fat around, lungs on both sides of
    the heart (touching the LV lateral wall), spine and descending aorta posteriorly,
    liver below the heart in apical slices.
    """
    img = np.full(x.shape, _I_AIR, dtype=np.float32)
    bx, by = 0.46 * fov[0], 0.38 * fov[1]
    body = _disk(x, y, 0.0, 0.0, bx, by)
    inner = _disk(x, y, 0.0, 0.0, bx - 9.0 * scale, by - 8.0 * scale)
    img[body] = _I_FAT
    img[inner] = _I_TISSUE * (1.0 + 0.08 * np.sin(x[inner] / (23.0 * scale)) * np.cos(y[inner] / (31.0 * scale)))
    hx, hy = heart.centre
    r_lv = heart.a_endo + heart.wall
    lateral = heart.rv_angle + np.pi
    lungs = [  # (direction from the LV centre, distance of the lung centre, semi-axes)
        (lateral + 0.15, r_lv + 36.0 * scale, 40.0 * scale, 62.0 * scale),
        (heart.rv_angle - 0.1, r_lv + heart.rv_thickness + 44.0 * scale, 42.0 * scale, 64.0 * scale),
    ]
    for angle, dist, rx, ry in lungs:
        cx, cy = hx + dist * np.cos(angle), hy + dist * np.sin(angle)
        img[_disk(x, y, cx, cy, rx, ry) & inner] = _I_LUNG
    spine_x, spine_y = 0.0, by - 34.0 * scale
    img[_disk(x, y, spine_x, spine_y, 17.0 * scale, 15.0 * scale)] = _I_BONE  # vertebral body
    img[_disk(x, y, spine_x + 22.0 * scale, spine_y - 22.0 * scale, 11.0 * scale)] = _I_LV_BLOOD * 0.9  # aorta
    if s > 0.55 * slab:  # liver appears below the heart in apical slices
        grow = (s - 0.55 * slab) / (0.45 * slab)
        lx, ly = hx - 35.0 * scale, hy + 60.0 * scale
        img[_disk(x, y, lx, ly, (45.0 + 40.0 * grow) * scale, (28.0 + 25.0 * grow) * scale) & inner] = _I_LIVER
    return img


def _check_args(n_frames: int, n_slices: int, size: int, spacing: tuple[float, float, float], noise: float) -> None:
    if n_frames < 1 or n_slices < 1:
        raise InputError(f"a phantom needs at least one frame and one slice, got {n_frames} x {n_slices}")
    if size < 32:
        raise InputError(f"phantom size must be at least 32 pixels, got {size}")
    if len(spacing) != 3 or min(spacing) <= 0:
        raise InputError(f"spacing must be three positive millimetre values (x, y, z), got {spacing}")
    if noise < 0:
        raise InputError(f"noise must be >= 0, got {noise}")


@dataclass(frozen=True)
class _Walls:
    """Endocardium, volume-preserving epicardium (half ellipsoids, heart-local mm) and RV thickness per frame."""

    c: np.ndarray  # contraction, (T, 1, 1)
    a_en: np.ndarray
    b_en: np.ndarray
    c_en: np.ndarray
    a_ep: np.ndarray
    b_ep: np.ndarray
    c_ep: np.ndarray
    a_ep0: float
    rv_thick: np.ndarray


def _walls(heart: _Heart, c: np.ndarray) -> _Walls:
    a_en = heart.a_endo * (1.0 - heart.k_radial * c)
    b_en = heart.b_endo * (1.0 - heart.k_radial * c)
    c_en = heart.c_endo * (1.0 - heart.k_long * c)
    a_ep0, b_ep0, c_ep0 = heart.a_endo + heart.wall, heart.b_endo + heart.wall, heart.c_endo + heart.wall
    c_ep = c_ep0 - heart.k_long * heart.c_endo * c
    k_myo = a_ep0 * b_ep0 * c_ep0 - heart.a_endo * heart.b_endo * heart.c_endo
    sigma_ep = np.sqrt((a_en * b_en * c_en + k_myo) / (a_ep0 * b_ep0 * c_ep))
    rv_thick = heart.rv_thickness * (1.0 - heart.k_rv * c)
    return _Walls(c, a_en, b_en, c_en, a_ep0 * sigma_ep, b_ep0 * sigma_ep, c_ep, a_ep0, rv_thick)


def _draw_slice(image, label, model_area, z: int, grid, spacing, heart: _Heart, w: _Walls, scale: float, fov) -> None:
    """Background, then fat, RV, myocardium and LV (with papillary muscles) of slice ``z``, in place."""
    xx, yy = grid
    dx, dy, dz = spacing
    size, n_slices = image.shape[-1], image.shape[1]
    s = (z + 0.3) * dz
    image[:, z] = _background(xx, yy, s, n_slices * dz, heart, scale, fov)[None]
    extent = w.a_ep0 + heart.rv_thickness + 12.0 * scale  # heart crop half-size, mm
    hr, wr = int(np.ceil(extent / dy)) + 2, int(np.ceil(extent / dx)) + 2
    cx = heart.centre[0] + heart.tilt[0] * s
    cy = heart.centre[1] + heart.tilt[1] * s
    ci = int(round(cy / dy + (size - 1) / 2.0))
    cj = int(round(cx / dx + (size - 1) / 2.0))
    i0, i1, j0, j1 = max(0, ci - hr), min(size, ci + hr + 1), max(0, cj - wr), min(size, cj + wr + 1)
    if i0 >= i1 or j0 >= j1:
        return
    px, py = xx[i0:i1, j0:j1] - cx, yy[i0:i1, j0:j1] - cy
    r, phi = np.hypot(px, py), np.arctan2(py, px)

    f_en = np.sqrt(np.clip(1.0 - (s / w.c_en) ** 2, 0.0, None))  # (T, 1, 1)
    f_ep = np.sqrt(np.clip(1.0 - (s / w.c_ep) ** 2, 0.0, None))
    r_en = _ellipse_radius(phi, w.a_en * f_en, w.b_en * f_en, heart.psi) * (f_en > 0)
    r_ep = _ellipse_radius(phi, w.a_ep * f_ep, w.b_ep * f_ep, heart.psi) * (f_ep > 0)
    model_area["LV"][:, z] = (np.pi * w.a_en * w.b_en * f_en**2).ravel()
    model_area["MYO"][:, z] = (np.pi * (w.a_ep * w.b_ep * f_ep**2 - w.a_en * w.b_en * f_en**2)).ravel()

    g_rv = np.sqrt(max(0.0, 1.0 - (s / heart.rv_length) ** 2))
    half = heart.rv_halfwidth * (0.55 + 0.45 * g_rv) * (1.0 - 0.1 * w.c)
    delta = np.angle(np.exp(1j * (phi - heart.rv_angle)))
    taper = np.cos(0.5 * np.pi * np.clip(np.abs(delta) / half, 0.0, 1.0)) ** 0.7
    rv_outer = r_ep + w.rv_thick * g_rv * taper
    in_rv_arc = (np.abs(delta) < half) & (g_rv > 0)

    lv = r <= r_en
    myo = (r <= r_ep) & ~lv
    rv = (r > r_ep) & (r <= rv_outer) & in_rv_arc & (f_ep > 0)
    free_wall = (r > rv_outer) & (r <= rv_outer + 3.0 * scale) & in_rv_arc & (f_ep > 0) & (g_rv > 0)
    heart_outer = np.where(in_rv_arc, rv_outer + 3.0 * scale, r_ep)
    fat_band = (r > heart_outer) & (r <= heart_outer + 3.5 * scale) & (f_ep > 0)
    epi_fat = fat_band & (np.cos(phi - heart.rv_angle + 0.5) > -0.2)  # AV groove and RV free wall
    pap = np.zeros_like(lv)
    if 0.25 < s / heart.c_endo < 0.75:
        for offset in (2.4, -2.4):
            ang = heart.rv_angle + offset
            rad = 0.55 * r_en.max(axis=(1, 2), keepdims=True)
            pap |= np.hypot(px - rad * np.cos(ang), py - rad * np.sin(ang)) <= 3.2 * scale
        pap &= lv

    crop = image[:, z, i0:i1, j0:j1]
    crop[...] = np.where(epi_fat, _I_EPI_FAT, crop)
    crop[...] = np.where(free_wall, _I_MYO, crop)
    crop[...] = np.where(rv, _I_RV_BLOOD, crop)
    crop[...] = np.where(myo, _I_MYO, crop)
    crop[...] = np.where(lv, np.where(pap, _I_PAPILLARY, _I_LV_BLOOD), crop)
    lab = label[:, z, i0:i1, j0:j1]
    lab[rv] = RV
    lab[myo] = MYO
    lab[lv] = LV


def _geometry(size: int, n_slices: int, spacing, oblique: bool) -> Geometry:
    """The stack centred near the scanner isocentre, in the Sunnybrook orientation unless not ``oblique``."""
    dx, dy, dz = spacing
    direction = sax_direction() if oblique else Geometry().direction
    dmat = np.asarray(direction).reshape(3, 3)
    centre_world = np.array([12.0, 38.0, 45.0])  # heart near the scanner isocentre, LPS mm
    half_extent = np.array([dx * (size - 1), dy * (size - 1), dz * (n_slices - 1)]) / 2.0
    origin = centre_world - dmat @ half_extent
    return Geometry(spacing=(dx, dy, dz), origin=tuple(float(v) for v in origin), direction=direction)


def _truth(label: np.ndarray, model_area: dict, geometry: Geometry, dz: float) -> dict:
    """Volumes, ED/ES, EF and LV mass of the drawn labels (what ``cine.meta`` promises)."""
    dx, dy, _ = geometry.spacing
    voxel_ml = dx * dy * dz / 1000.0
    counts = {name: (label == value).sum(axis=(1, 2, 3)) * voxel_ml for value, name in NAMES.items()}
    lv_ml = counts["LV"]
    rv_ml = counts["RV"]
    ed = int(np.argmax(lv_ml))
    es = int(np.argmin(lv_ml)) if label.shape[0] > 1 else None

    def ef(vol: np.ndarray) -> float:
        return float(100.0 * (vol[ed] - vol[es]) / vol[ed]) if es is not None and vol[ed] > 0 else float("nan")

    return {
        "ed_frame": ed,
        "es_frame": es,
        "volumes_ml": {name: [float(v) for v in vol] for name, vol in counts.items()},
        "model_volumes_ml": {
            name: [float(v) for v in area.sum(axis=1) * dz / 1000.0] for name, area in model_area.items()
        },
        "ef_percent": {"LV": ef(lv_ml), "RV": ef(rv_ml)},
        "lv_mass_ed_g": float(counts["MYO"][ed] * MYO_DENSITY_G_PER_ML),
    }


def make_phantom(
    n_frames: int = 25,
    n_slices: int = 12,
    size: int = 192,
    spacing: tuple[float, float, float] = (1.5, 1.5, 8.0),
    seed: int = 0,
    oblique: bool = True,
    noise: float = 0.04,
    rr_ms: float = 900.0,
) -> Cine:
    """Generate a labelled synthetic SAX cine (T, Z, Y, X); deterministic for ``seed``.

    ``noise`` is the Rician noise sigma relative to the blood signal (0 disables it);
    ``oblique`` False gives an identity direction matrix; trigger times span one RR
    interval of ``rr_ms`` starting at 0 ms (ED).

    ``cine.meta`` keys: ``volumes_ml`` ({"LV", "MYO", "RV"}: per-frame label voxel
    counts times the voxel volume), ``model_volumes_ml`` (LV and MYO of the continuous
    model, slice-summed), ``ed_frame``, ``es_frame`` (None for one frame),
    ``ef_percent`` ({"LV", "RV"}), ``lv_mass_ed_g``, ``es_phase_design``, ``seed``,
    ``rr_ms``, ``anatomy_scale``.
    """
    _check_args(n_frames, n_slices, size, spacing, noise)
    rng = np.random.default_rng(seed)
    dx, dy, dz = (float(v) for v in spacing)
    fov = (size * dx, size * dy)
    scale = min(1.0, min(fov) / _REFERENCE_FOV_MM)
    heart = _random_heart(rng, scale, n_slices * dz)

    es_index = int(round(_ES_PHASE * n_frames))  # put ES exactly on a frame when the cycle allows
    es_phase = es_index / n_frames if 0.3 <= es_index / n_frames <= 0.5 else _ES_PHASE
    c = contraction(np.arange(n_frames) / n_frames, es_phase)[:, None, None]  # (T, 1, 1)
    walls = _walls(heart, c)

    ys = (np.arange(size) - (size - 1) / 2.0) * dy
    xs = (np.arange(size) - (size - 1) / 2.0) * dx
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    image = np.empty((n_frames, n_slices, size, size), dtype=np.float32)
    label = np.zeros((n_frames, n_slices, size, size), dtype=np.uint8)
    model_area = {name: np.zeros((n_frames, n_slices)) for name in ("LV", "MYO")}
    for z in range(n_slices):
        _draw_slice(image, label, model_area, z, (xx, yy), (dx, dy, dz), heart, walls, scale, fov)

    image = acquire(image, rng, heart.rv_angle, (xx, yy), fov, noise)
    # Slices were built base -> apex, but the Sunnybrook orientation's slice normal points from
    # apex to base (as in most short-axis stacks): store them apex first so the anatomy and the
    # geometry agree (slice position matters to PCL / Chaitanya partitions).
    image = np.ascontiguousarray(image[:, ::-1])
    label = np.ascontiguousarray(label[:, ::-1])
    geometry = _geometry(size, n_slices, (dx, dy, dz), oblique)
    meta = {
        "generator": "CardiacSSLLib.phantom.make_phantom",
        "seed": int(seed),
        "rr_ms": float(rr_ms),
        "es_phase_design": float(es_phase),
        **_truth(label, model_area, geometry, dz),
        "anatomy_scale": float(scale),
    }
    return Cine(
        image=image.astype(np.float32, copy=False),
        geometry=geometry,
        trigger_times_ms=np.arange(n_frames, dtype=float) * (rr_ms / n_frames),
        label=label,
        labelled=np.ones((n_frames, n_slices), dtype=bool),
        structures=(LV, MYO, RV),
        source="phantom",
        name=f"phantom-seed{seed}",
        frame_names=[f"phase{t:02d}" for t in range(n_frames)],
        meta=meta,
    )
