"""RFC 4231 section 4 test vectors for HMAC-SHA-256, through `tactful.privacy._crypto`.

Test case 5 is left out: it checks an output truncated to 128 bits, which we never use.
Keys, data and outputs are copied as hex from the RFC so a typo cannot hide in a
Python expression that happens to agree with itself.
"""

from __future__ import annotations

import pytest

from tactful.privacy._crypto import hmac_sha256

RFC4231_SHA256 = {
    "case 1": (
        "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
        "4869205468657265",
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    ),
    "case 2": (
        "4a656665",
        "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ),
    "case 3": (
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "dddddddddddddddddddddddddddddddddddddddddddddddddd"
        "dddddddddddddddddddddddddddddddddddddddddddddddddd",
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
    ),
    "case 4": (
        "0102030405060708090a0b0c0d0e0f10111213141516171819",
        "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
        "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
        "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
    ),
    "case 6": (
        "aa" * 131,
        "54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a"
        "65204b6579202d2048617368204b6579204669727374",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
    "case 7": (
        "aa" * 131,
        "5468697320697320612074657374207573696e672061206c6172676572207468"
        "616e20626c6f636b2d73697a65206b657920616e642061206c61726765722074"
        "68616e20626c6f636b2d73697a6520646174612e20546865206b6579206e6565"
        "647320746f20626520686173686564206265666f7265206265696e6720757365"
        "642062792074686520484d414320616c676f726974686d2e",
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    ),
}


@pytest.mark.parametrize(("key", "data", "expected"), RFC4231_SHA256.values(), ids=RFC4231_SHA256)
def test_rfc4231_hmac_sha256(key: str, data: str, expected: str) -> None:
    assert hmac_sha256(bytes.fromhex(key), bytes.fromhex(data)).hex() == expected


def test_vector_sizes_match_the_rfc() -> None:
    # The RFC states these lengths; a dropped hex pair would silently change a case.
    sizes = {
        name: (len(key) // 2, len(data) // 2) for name, (key, data, _) in RFC4231_SHA256.items()
    }
    assert sizes == {
        "case 1": (20, 8),
        "case 2": (4, 28),
        "case 3": (20, 50),
        "case 4": (25, 50),
        "case 6": (131, 54),
        "case 7": (131, 152),
    }


def test_text_vectors_decode_to_the_rfc_sentences() -> None:
    text = {name: bytes.fromhex(data) for name, (_, data, _) in RFC4231_SHA256.items()}
    assert text["case 1"] == b"Hi There"
    assert text["case 2"] == b"what do ya want for nothing?"
    assert text["case 6"] == b"Test Using Larger Than Block-Size Key - Hash Key First"
    assert text["case 7"] == (
        b"This is a test using a larger than block-size key and a larger than block-size"
        b" data. The key needs to be hashed before being used by the HMAC algorithm."
    )


def test_hmac_depends_on_every_key_byte() -> None:
    key, data, expected = RFC4231_SHA256["case 4"]
    raw_key = bytearray.fromhex(key)
    for index in range(len(raw_key)):
        changed = bytearray(raw_key)
        changed[index] ^= 0x01
        assert hmac_sha256(bytes(changed), bytes.fromhex(data)).hex() != expected
