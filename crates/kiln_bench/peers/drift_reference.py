"""Reference values (scipy) for kiln_core/src/drift.rs's tests, on the same generated samples.
Run: python3 crates/kiln_bench/peers/drift_reference.py"""
import numpy as np
from scipy import stats
from scipy.spatial import distance

a = [((i * 37) % 101) / 10 for i in range(20)]
b = [((j * 53) % 97) / 9 + 0.5 for j in range(25)]
c = [((i * 37) % 101) / 10 + 0.3 for i in range(30)]
d = [((i * 41) % 89) / 9 for i in range(30)]
ties_a = [float(i % 7) for i in range(40)]
ties_b = [float((i * 3) % 9) for i in range(33)]
e = [i / 10 for i in range(25)]
f = [i / 10 + 0.8 for i in range(22)]
for name, x, y in [("a_b", a, b), ("c_d", c, d), ("ties", ties_a, ties_b), ("e_f", e, f)]:
    r = stats.ks_2samp(x, y)
    print(f"ks {name}: statistic {float(r.statistic)!r} p {float(r.pvalue)!r}")
print("wasserstein a_b", float(stats.wasserstein_distance(a, b)))
print("wasserstein ties", float(stats.wasserstein_distance(ties_a, ties_b)))

ref = ["x"] * 30 + ["y"] * 50 + ["z"] * 20
cur = ["x"] * 45 + ["y"] * 35 + ["z"] * 20
keys = sorted(set(ref) | set(cur))
f_exp = [ref.count(k) * len(cur) / len(ref) for k in keys]
f_obs = [cur.count(k) for k in keys]
r = stats.chisquare(f_obs, f_exp)
print(f"chisquare statistic {float(r.statistic)!r} p {float(r.pvalue)!r}")
rp = np.array([ref.count(k) / len(ref) for k in keys])
cp = np.array([cur.count(k) / len(cur) for k in keys])
print("jensenshannon", float(distance.jensenshannon(rp, cp)))

bref = ["yes"] * 40 + ["no"] * 60
bcur = ["yes"] * 55 + ["no"] * 45
n1, n2 = len(bref), len(bcur)
p1, p2 = bref.count("no") / n1, bcur.count("no") / n2
P = (p1 * n1 + p2 * n2) / (n1 + n2)
z = (p1 - p2) / np.sqrt(P * (1 - P) * (1 / n1 + 1 / n2))
print(f"z {abs(float(z))!r} p {float(2 * (1 - stats.norm.cdf(abs(z))))!r}")
