"""One exception hierarchy for every codec: each error names what is wrong and where."""

from __future__ import annotations


class OmnipowerError(Exception):
    """Root of every error this project raises on bad input."""


class CodecError(OmnipowerError, ValueError):
    """Bytes that do not form a valid frame of the protocol."""


class ChecksumError(CodecError):
    """A CRC, checksum or BCC does not match."""


class LengthError(CodecError):
    """A length field disagrees with the data (too long, too short, out of range)."""


class TruncatedError(CodecError):
    """The data ends before the frame does."""


class UnknownTagError(CodecError):
    """A tag, type, control or function code the codec does not know."""


class EncodeError(OmnipowerError, ValueError):
    """A value that cannot be encoded (out of range, wrong type)."""


class DecryptionError(CodecError):
    """An encrypted frame that cannot be authenticated or decrypted with the keys given."""
