import pytest

from engine.cost import CostAssumptions, assumptions, cost_per_1k_queries, load_prices, seconds_per_query


def test_cost_formula_against_a_hand_calculation():
    a = CostAssumptions("H100", price_per_hour=3.60, prompt_tokens=100, output_tokens=200, batch_size=4,
                        utilisation=0.5)
    # (50 ms + 10 ms * 200) / 4 = 512.5 ms per query; $3.60/h = $0.001/s;
    # 0.5125 s * $0.001 * 1000 queries / 0.5 utilisation = $1.025.
    assert seconds_per_query(50.0, 10.0, a) == pytest.approx(0.5125)
    assert cost_per_1k_queries(50.0, 10.0, a) == pytest.approx(1.025)


def test_price_table_has_cpu_and_common_gpus():
    prices = load_prices()
    assert {"T4", "L4", "A10G", "H100", "H200"} <= set(prices)
    assert any(p.kind == "cpu" for p in prices.values())
    assert all(p.usd_per_hour > 0 and p.source and p.date for p in prices.values())


def test_assumptions_default_and_override():
    a = assumptions("cpu", "x86_64 CPU")
    assert a.hardware == "cpu-2vcpu" and a.price_per_hour == load_prices()["cpu-2vcpu"].usd_per_hour
    assert assumptions("cuda", "NVIDIA H200").hardware == "H200"
    b = assumptions("cpu", "x", hardware="L4", price_per_hour=1.5, utilisation=0.9, output_tokens=64)
    assert (b.hardware, b.price_per_hour, b.utilisation, b.output_tokens) == ("L4", 1.5, 0.9, 64)


@pytest.mark.parametrize("override", [{"utilisation": 0}, {"utilisation": 1.5}, {"output_tokens": 0}])
def test_impossible_assumptions_are_refused(override):
    with pytest.raises(ValueError):
        assumptions("cpu", "x", **override)


def test_unknown_hardware_needs_a_price():
    with pytest.raises(ValueError, match="unknown hardware"):
        assumptions("cpu", "x", hardware="TPU-v9")
