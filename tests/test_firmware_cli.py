"""`omnipower-sim firmware build|sign|keygen|show` (meter_sim/firmware_cli.py): the contract's two commands make a
signed container a meter trusting the key runs, and every bad input is refused with its reason (exit 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from firmware_harness import write_keys

from meter_sim.cli import main
from omnipower import firmware_image as fi


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object] | None, str]:
    code = main(["firmware", *args])
    out, err = capsys.readouterr()
    return code, json.loads(out.splitlines()[0]) if out.strip() else None, err


def test_build_then_sign_makes_a_signed_container_the_meter_s_key_verifies(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    private, public = write_keys(tmp_path)
    image = tmp_path / "fw.img"
    code, built, _ = run(capsys, "build", "--version", "5098736-V1", "--out", str(image))
    assert code == 0 and built is not None and built["signature"] is None
    assert built["checksum"] == fi.factory_image("5098736-V1", fi.Target.DIRECT).checksum
    code, signed, _ = run(capsys, "sign", "--key", str(private), str(image))
    assert code == 0 and signed is not None and signed["checksum"] == built["checksum"]
    data = image.read_bytes()  # signed in place: one file to carry
    assert fi.verify(data, fi.load_public_key(public.read_bytes()), fi.Target.DIRECT).version == "5098736-V1"
    code, shown, err = run(capsys, "show", str(image), "--public-key", str(public))
    assert code == 0 and shown == {k: v for k, v in signed.items() if k != "file"} and "runs this image" in err
    code, _, err = run(capsys, "show", str(image), "--public-key", str(public), "--target", "ct")
    assert code == 1 and "for a direct meter, this is a ct meter" in err


def test_keygen_an_ecdsa_key_and_sign_elsewhere(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, keys, _ = run(capsys, "keygen", "--out", str(tmp_path / "maker.pem"), "--algorithm", "ecdsa-p256")
    assert code == 0 and keys is not None
    assert (tmp_path / "maker.pem").stat().st_mode & 0o077 == 0  # the private key is the owner's alone
    public = fi.load_public_key((tmp_path / "maker.pub.pem").read_bytes())
    assert fi.key_id(public).hex() == keys["key_id"]
    run(capsys, "build", "--version", "50981040-V1", "--target", "ct", "--size", "700", "--out",
        str(tmp_path / "ct.img"))
    code, signed, _ = run(capsys, "sign", "--key", str(tmp_path / "maker.pem"), str(tmp_path / "ct.img"), "--out",
                          str(tmp_path / "ct.signed.img"))
    assert code == 0 and signed is not None and signed["signature"] == {"algorithm": "ecdsa_p256_sha256",
                                                                       "key_id": keys["key_id"]}
    assert fi.parse((tmp_path / "ct.img").read_bytes()).signature is None  # the unsigned one left as it was
    image = fi.verify((tmp_path / "ct.signed.img").read_bytes(), public, fi.Target.CT)
    assert len(image.payload) == 700


@pytest.mark.parametrize(("args", "why"), [
    (["build", "--version", "has space", "--out", "{tmp}/x.img"], "firmware version 'has space'"),
    (["sign", "--key", "{tmp}/KEY.pub.pem", "{tmp}/fw.img"], "not an unencrypted PEM private key"),
    (["sign", "--key", "{tmp}/KEY.pem", "{tmp}/KEY.pem"], "not a firmware image"),
    (["sign", "--key", "{tmp}/KEY.pem", "{tmp}/none.img"], "No such file"),
    (["show", "{tmp}/KEY.pub.pem"], "not a firmware image"),
])
def test_bad_input_is_refused_with_its_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                              why: str) -> None:
    write_keys(tmp_path)
    (tmp_path / "fw.img").write_bytes(fi.build("v1", fi.Target.DIRECT, b"x").to_bytes())
    code, out, err = run(capsys, *(a.replace("{tmp}", str(tmp_path)) for a in args))
    assert code == 1 and out is None and why in err
