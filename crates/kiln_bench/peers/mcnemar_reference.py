"""Reference p-values of McNemar's exact test (statsmodels) for the counts in
kiln_core/src/release/stats.rs's test. Run: python3 crates/kiln_bench/peers/mcnemar_reference.py"""
from statsmodels.stats.contingency_tables import mcnemar
from scipy.stats import binomtest

for b, c in [(10, 2), (5, 5), (0, 7), (25, 40), (120, 95), (1, 0), (0, 0)]:
    p = mcnemar([[50, b], [c, 50]], exact=True).pvalue
    q = binomtest(min(b, c), b + c, 0.5).pvalue if b + c else 1.0
    print(f"({b}, {c}, {float(p)!r}),  # scipy binomtest {float(q)!r}")
