"""Song metadata from the audio file's tags (mutagen): title, artist, album, genre,
year and the embedded album art."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Optional, Tuple

TAG_KEYS = {
    "title": ("title", "TIT2", "\xa9nam"),
    "artist": ("artist", "TPE1", "\xa9ART", "albumartist", "TPE2", "aART"),
    "album": ("album", "TALB", "\xa9alb"),
    "genre": ("genre", "TCON", "\xa9gen"),
    "year": ("date", "year", "TDRC", "TYER", "\xa9day"),
}


def _first(tags, keys) -> Optional[str]:
    for k in keys:
        try:
            v = tags.get(k)
        except (KeyError, ValueError, TypeError):
            v = None
        if v is None:
            continue
        if hasattr(v, "text"):
            v = v.text
        if isinstance(v, (list, tuple)):
            v = v[0] if v else None
        if v is not None and str(v).strip():
            return str(v).strip()
    return None


def _art(f) -> Optional[Tuple[bytes, str]]:
    pics = list(getattr(f, "pictures", []) or [])  # FLAC, Ogg (METADATA_BLOCK_PICTURE)
    tags = getattr(f, "tags", None)
    if tags is not None and hasattr(tags, "getall"):
        pics += tags.getall("APIC")  # ID3
    if tags is not None and "covr" in getattr(tags, "keys", lambda: [])():
        for c in tags["covr"]:  # MP4
            ext = ".png" if getattr(c, "imageformat", 0) == 14 else ".jpg"
            return bytes(c), ext
    if tags is not None and hasattr(tags, "get") and not hasattr(tags, "getall"):
        import base64
        for b64 in tags.get("metadata_block_picture", []) or []:
            try:
                from mutagen.flac import Picture
                pics.append(Picture(base64.b64decode(b64)))
            except Exception:
                continue
    for p in pics:
        mime = getattr(p, "mime", "") or ""
        return bytes(p.data), ".png" if "png" in mime else ".jpg"
    return None


def read_tags(path) -> Tuple[Dict[str, str], Optional[Tuple[bytes, str]]]:
    """``({title, artist, album, genre, year}, (art_bytes, ".jpg"|".png") or None)``.

    Missing tags are absent; an unreadable file gives ``({}, None)``. The year
    is the first four-digit number of the date tag.
    """
    try:
        import mutagen
        f = mutagen.File(str(Path(path)))
    except Exception:
        return {}, None
    if f is None:
        return {}, None
    out: Dict[str, str] = {}
    tags = f.tags or {}
    for key, names in TAG_KEYS.items():
        v = _first(tags, names)
        if v:
            out[key] = v
    if "year" in out:
        m = re.search(r"\d{4}", out["year"])
        if m:
            out["year"] = m.group(0)
        else:
            del out["year"]
    return out, _art(f)
