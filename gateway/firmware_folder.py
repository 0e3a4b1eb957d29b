"""The gateway's folder of signed firmware images (`firmware.folder`): which image is the newest for a meter (Home
Assistant's update entity offers it), and which file a `firmware_update` command's image names.

A meter's firmware line is its version's SW number, the part before the first "-" (the facts digest's "Firmware"
line: 5098736 direct, 50981040 CT, …), and the rest is the revision: the newest image of a meter is the one of its
line with the highest revision. Revisions compare as the data sheet's run (B1 … U1, then AE6): letters as
spreadsheet columns (shorter first, then alphabetically), numbers by value. Only signed images are offered; the meter
checks the signature itself. The folder is listed again at most every `rescan_s` (a fleet publishes thousands of
states a second).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gateway.command_values import LATEST_IMAGE, CommandError
from omnipower import firmware_image as fi

RESCAN_S = 30.0
MAX_FILE = fi.HEADER_SIZE + fi.MAX_PAYLOAD + 4096  # the largest image and a signature block with room to spare
_TOKENS = re.compile(r"\d+|[A-Za-z]+|[^A-Za-z\d]+")


@dataclass(frozen=True, slots=True)
class Offer:
    path: Path
    version: str
    checksum: str


def line_of(version: str) -> str:
    return version.partition("-")[0]


def revision_key(version: str) -> tuple[tuple[int, int, str], ...]:
    """Orders revisions: numbers by value, letters shorter first (U1 < AE6), anything else as text."""
    out = []
    for token in _TOKENS.findall(version.partition("-")[2]):
        if token.isdigit():
            out.append((1, int(token), ""))
        elif token.isalpha():
            out.append((2, len(token), token.upper()))
        else:
            out.append((0, 0, token))
    return tuple(out)


def read_image(path: str | Path) -> bytes:
    """A regular file of at most MAX_FILE bytes (CommandError naming the path and what is wrong)."""
    where = Path(path)
    try:
        if not where.is_file():
            raise CommandError("firmware_update.image", f"{where} is not a file")
        with open(where, "rb") as fh:
            data = fh.read(MAX_FILE + 1)
    except OSError as exc:
        raise CommandError("firmware_update.image", f"{where} cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_FILE:
        raise CommandError("firmware_update.image", f"{where} is larger than any image ({MAX_FILE} bytes)")
    return data


class FirmwareFolder:
    def __init__(self, folder: Path | None, rescan_s: float = RESCAN_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.folder = folder
        self.rescan_s = rescan_s
        self._clock = clock
        self._scanned = -float("inf")
        self._offers: tuple[Offer, ...] = ()
        self._known: dict[tuple[str, int, int], Offer | None] = {}  # (name, size, mtime) → what the file held

    def offers(self) -> tuple[Offer, ...]:
        """The signed images of the folder (a file that is none is left out), listed at most every `rescan_s`."""
        if self.folder is None or self._clock() - self._scanned < self.rescan_s:
            return self._offers
        self._scanned = self._clock()
        offers, known = [], {}
        try:
            entries = sorted(self.folder.iterdir())
        except OSError:
            entries = []
        for path in entries:
            try:
                stat = path.stat()
            except OSError:
                continue
            if not path.is_file() or stat.st_size > MAX_FILE:
                continue
            key = (path.name, stat.st_size, stat.st_mtime_ns)
            offer = self._known[key] if key in self._known else _offer(path)
            known[key] = offer
            if offer is not None:
                offers.append(offer)
        self._known, self._offers = known, tuple(offers)
        return self._offers

    def latest(self, installed: str | None) -> Offer | None:
        """The newest image of the installed version's line that is newer than it (of any line when not known)."""
        candidates = [o for o in self.offers() if installed is None or line_of(o.version) == line_of(installed)]
        if not candidates:
            return None
        newest = max(candidates, key=lambda o: (revision_key(o.version), o.version))
        if installed is not None and revision_key(newest.version) <= revision_key(installed):
            return None
        return newest

    def resolve(self, image: str, installed: str | None) -> Path:
        """The file a command's image names: "latest", or a path (a relative one in the folder, when there is one)."""
        if image == LATEST_IMAGE:
            if self.folder is None:
                raise CommandError("firmware_update.image", '"latest" needs the gateway\'s firmware.folder')
            self._scanned = -float("inf")  # a command looks at the folder as it is now
            offer = self.latest(installed)
            if offer is None:
                raise CommandError("firmware_update.image", f"no signed image newer than {installed or 'the meter'}'s "
                                   f"firmware of its line in {self.folder}")
            return offer.path
        path = Path(image).expanduser()
        if not path.is_absolute() and self.folder is not None:
            path = self.folder / path
        return path


def _offer(path: Path) -> Offer | None:
    try:
        image = fi.parse(path.read_bytes())
    except (OSError, fi.ImageError):
        return None
    return Offer(path, image.version, image.checksum) if image.signature is not None else None
