import pytest

from registry.core.identifiers import (
    check_domain,
    check_edrpou,
    check_fingerprint,
    check_package,
    edrpou_checksum,
    tax_number_hash,
)


@pytest.mark.parametrize("code", ["14360570", "00032129", "00032106"])
def test_real_edrpou_codes_pass(code: str) -> None:
    assert check_edrpou(code) == code


def test_the_second_weighting_applies_between_30_and_60_million() -> None:
    # 3xxxxxxx uses weights 7,1,2,...: the digit differs from the one the plain weights give.
    first7 = "3000001"
    plain = sum(int(d) * w for d, w in zip(first7, range(1, 8), strict=True)) % 11
    assert edrpou_checksum(first7) != plain


@pytest.mark.parametrize(("code", "why"), [("14360571", "should be 0"), ("1436057", "8 digits"),
                                           ("1436057a", "8 digits"), ("１４３６０５７０", "8 digits")])
def test_bad_edrpou_codes_say_what_was_expected(code: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check_edrpou(code)


def test_domains_are_normalised_and_checked() -> None:
    assert check_domain("Casino.Example.UA.") == "casino.example.ua"
    assert check_domain("xn--80ak6aa92e.xn--j1amh") == "xn--80ak6aa92e.xn--j1amh"
    for bad in ("localhost", "casino .ua", "-casino.ua", "casino.123", "a..ua", "http://casino.ua",
                "x" * 64 + ".ua"):
        with pytest.raises(ValueError, match="domain name"):
            check_domain(bad)


def test_packages_and_fingerprints() -> None:
    assert check_package("ua.example.app") == "ua.example.app"
    with pytest.raises(ValueError, match="reverse-domain"):
        check_package("app")
    fp = "AB:" * 31 + "AB"
    assert check_fingerprint(fp) == "ab" * 32
    with pytest.raises(ValueError, match="64 hex"):
        check_fingerprint("ab" * 31)


def test_tax_numbers_are_kept_only_as_keyed_hashes() -> None:
    h = tax_number_hash(b"key-1", "1234567890")
    assert len(h) == 64 and "1234567890" not in h
    assert h == tax_number_hash(b"key-1", "1234567890") != tax_number_hash(b"key-2", "1234567890")
    with pytest.raises(ValueError, match="10 digits"):
        tax_number_hash(b"k", "12345")
