"""Price tables: dated defaults, user edits that persist, reset."""

from core import prices


def test_defaults_carry_date_and_source():
    for kind in ("openai", "gpu"):
        rows = prices.table(kind)
        assert rows and all(r["as_of"] and r["source"] for r in rows)
        assert not prices.is_customised(kind)
    assert prices.openai_row("gpt-4o-mini")["training"] == 3.00


def test_edits_persist_until_reset():
    rows = prices.table("openai")
    rows[0]["training"] = 9.99
    prices.save("openai", rows)
    assert prices.table("openai")[0]["training"] == 9.99
    assert prices.is_customised("openai")
    prices.reset("openai")
    assert prices.table("openai")[0]["training"] == 3.00


def test_unknown_model_names_the_known_ones():
    try:
        prices.openai_row("gpt-9")
    except KeyError as e:
        assert "gpt-4o-mini-2024-07-18" in str(e)
    else:
        raise AssertionError("expected KeyError")
