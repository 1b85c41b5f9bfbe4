

def test_format_p_says_an_underflowed_p_is_below_a_double_not_zero():
    from llm_lineage.stats import format_p

    assert format_p(0.0) == "< 1e-300"
    assert format_p(0.0123) == "0.0123" and format_p(float("nan")) == "nan"
