"""`omnipower-sim firmware …`: make, sign and look at firmware images of our format (omnipower/firmware_image.py).

- `build --version V --out FILE [--target direct|ct] [--size BYTES]`: an unsigned test image (a synthetic payload,
  the same for the same version and target: a meter delivered with V reports the checksum this prints);
- `sign --key KEY.pem FILE [--out SIGNED]`: the image with a signature by the private key (PKCS#8 PEM, Ed25519 or
  ECDSA P-256) appended: a signed container, written over FILE unless `--out` names another file; signing a signed
  image replaces its signature;
- `keygen --out KEY.pem [--algorithm ed25519|ecdsa-p256]`: a manufacturer key pair, KEY.pem (private, PKCS#8) and
  KEY.pub.pem (public, SubjectPublicKeyInfo: what a meter's `firmware.public_key` takes);
- `show FILE [--public-key PUB.pem] [--target direct|ct]`: the image's header, checksum and signer as JSON, and with
  a public key whether a meter trusting it would run the image (exit 1 with the reason if not).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from omnipower import firmware_image as fi

TARGETS = {"direct": fi.Target.DIRECT, "ct": fi.Target.CT}
MAX_FILE = fi.HEADER_SIZE + fi.MAX_PAYLOAD + 4096


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fw = sub.add_parser("firmware", help="build, sign and show firmware images (DLMS image transfer, §8)",
                        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = fw.add_subparsers(dest="firmware_command", required=True)
    build = commands.add_parser("build", help="an unsigned test image of our format")
    build.add_argument("--version", required=True, help="1–16 characters: A–Z a–z 0–9 . _ + - (e.g. 5098736-V1)")
    build.add_argument("--out", type=Path, required=True, help="the image file to write")
    build.add_argument("--target", choices=sorted(TARGETS), default="direct", help="which meters (default direct)")
    build.add_argument("--size", type=_size, default=fi.FACTORY_PAYLOAD_SIZE,
                       help=f"payload bytes (default {fi.FACTORY_PAYLOAD_SIZE})")
    sign = commands.add_parser("sign", help="append a signature (a signed container)")
    sign.add_argument("--key", type=Path, required=True, help="the private key: PKCS#8 PEM, Ed25519 or ECDSA P-256")
    sign.add_argument("file", type=Path, help="the image")
    sign.add_argument("--out", type=Path, help="write the signed image here (default: over FILE)")
    keygen = commands.add_parser("keygen", help="a key pair: KEY.pem (private) and KEY.pub.pem (public)")
    keygen.add_argument("--out", type=Path, required=True, help="the private key's file (KEY.pem)")
    keygen.add_argument("--algorithm", choices=("ed25519", "ecdsa-p256"), default="ed25519")
    show = commands.add_parser("show", help="an image's header, checksum and signer as JSON")
    show.add_argument("file", type=Path)
    show.add_argument("--public-key", type=Path, help="verify as a meter trusting this key would")
    show.add_argument("--target", choices=sorted(TARGETS), default="direct", help="the meter's kind (default direct)")


def _size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of bytes") from None
    if not 0 <= value <= fi.MAX_PAYLOAD:
        raise argparse.ArgumentTypeError(f"{value} is not 0–{fi.MAX_PAYLOAD} bytes")
    return value


def run(args: argparse.Namespace) -> int:
    try:
        return _COMMANDS[args.firmware_command](args)
    except (OSError, ValueError) as exc:  # an ImageError, a key or version refused, a file not there
        print(f"omnipower-sim firmware {args.firmware_command}: {exc}", file=sys.stderr)
        return 1


def _read(path: Path) -> bytes:
    with open(path, "rb") as fh:
        data = fh.read(MAX_FILE + 1)
    if len(data) > MAX_FILE:
        raise ValueError(f"{path}: larger than any image ({MAX_FILE} bytes)")
    return data


def _build(args: argparse.Namespace) -> int:
    target = TARGETS[args.target]
    image = fi.build(args.version, target, fi.synthetic_payload(args.version, target, args.size))
    args.out.write_bytes(image.to_bytes())
    print(json.dumps(_describe(image)))
    return 0


def _sign(args: argparse.Namespace) -> int:
    key = fi.load_private_key(_read(args.key))
    image = fi.sign(fi.parse(_read(args.file)), key)
    out = args.out or args.file
    out.write_bytes(image.to_bytes())
    print(json.dumps(_describe(image) | {"file": str(out)}))
    return 0


def _keygen(args: argparse.Namespace) -> int:
    key: fi.PrivateKey = (ed25519.Ed25519PrivateKey.generate() if args.algorithm == "ed25519"
                          else ec.generate_private_key(ec.SECP256R1()))
    public = args.out.with_name(args.out.name.removesuffix(".pem") + ".pub.pem")
    args.out.touch(mode=0o600)
    args.out.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    print(json.dumps({"private_key": str(args.out), "public_key": str(public),
                      "key_id": fi.key_id(key.public_key()).hex()}))
    return 0


def _show(args: argparse.Namespace) -> int:
    data = _read(args.file)
    image = fi.parse(data)
    print(json.dumps(_describe(image)))
    if args.public_key is not None:
        fi.verify(data, fi.load_public_key(_read(args.public_key)), TARGETS[args.target])
        print(f"a {args.target} meter trusting {args.public_key} runs this image", file=sys.stderr)
    return 0


def _describe(image: fi.FirmwareImage) -> dict[str, object]:
    signature = image.signature
    return {"version": image.version, "target": image.target.name.lower(), "payload_bytes": len(image.payload),
            "checksum": image.checksum, "bytes": len(image.to_bytes()),
            "signature": None if signature is None else {"algorithm": signature.algorithm.name.lower(),
                                                         "key_id": signature.key_id.hex()}}


_COMMANDS = {"build": _build, "sign": _sign, "keygen": _keygen, "show": _show}
