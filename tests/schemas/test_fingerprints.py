import pytest

from schemas.codec import EVENT_BATCH, Codec, UnknownSchemaError, describe_fingerprint, schema_versions


def test_a_fingerprint_is_shown_in_wire_order_and_as_java_prints_it() -> None:
    # What Java's SchemaNormalization.parsingFingerprint64(EventBatch version 1) returns, as a long.
    fp = schema_versions(EVENT_BATCH)[0].fingerprint
    assert fp.hex() == "df21741809057402"
    assert describe_fingerprint(fp) == ("df21741809057402 (wire bytes; Java parsingFingerprint64 = "
                                        "0x02740509187421df = 176771821997400543)")
    # A long with the top bit set prints negative in Java, and so here.
    assert describe_fingerprint(bytes.fromhex("b59903ee2a3d3da1")).endswith("= -6828234205432669771)")


def test_an_unknown_fingerprint_is_named_in_both_orders() -> None:
    with pytest.raises(UnknownSchemaError, match=r"0102030405060708 \(wire bytes; Java parsingFingerprint64 "
                                                 r"= 0x0807060504030201"):
        Codec().decode(b"\xc3\x01\x01\x02\x03\x04\x05\x06\x07\x08\x00")
