"""What holding alpha whatever the spreads costs in power: the decisions' df (Hsu's min(n_a, n_b) - 1, one less
for adaptive looks) against Welch-Satterthwaite's, simulated through the same levels (bnbench.analysis.simulate).

Equal spreads (sd 1 a side), where Welch's df was right and the conservative one gives something up; a true
difference of `--effect` sd. For each design: the share of experiments that find it (better), both ways, and
the false-verdict rate with no difference at sd ratio 1 and 5.

    python benchmarks/decision_power.py [--effect 1.0] [--experiments 20000]
"""

from __future__ import annotations

import argparse

from bnbench.analysis.decide import Design
from bnbench.analysis.simulate import hsu_df, welch_df, winner_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--effect", type=float, default=1.0, help="true difference, in seed-to-seed sd")
    parser.add_argument("--experiments", type=int, default=20_000)
    args = parser.parse_args()
    designs = {"3 seeds, one look": Design(0.05, 3, 3), "5 seeds, one look": Design(0.05, 5, 5),
               "10 seeds, one look": Design(0.05, 10, 10),
               "adaptive 3-20, O'Brien-Fleming": Design(0.05, 3, 20, "obrien-fleming"),
               "adaptive 3-20, Pocock": Design(0.05, 3, 20, "pocock")}
    print(f"true difference {args.effect:g} sd, {args.experiments} experiments per cell")
    print(f"{'design':32} {'power Welch df':>15} {'power decisions':>16} {'false sd1/sd5 Welch':>20} "
          f"{'false sd1/sd5 decisions':>24}")
    for name, design in designs.items():
        cells = []
        for rule in (welch_df, hsu_df):
            cells.append(winner_rate(design, 1.0, args.effect, args.experiments, seed=1, df_rule=rule))
        for rule in (welch_df, hsu_df):
            low, high = (winner_rate(design, r, 0.0, args.experiments, seed=2, df_rule=rule) for r in (1.0, 5.0))
            cells.append(f"{low:.4f}/{high:.4f}")
        print(f"{name:32} {cells[0]:>15.3f} {cells[1]:>16.3f} {cells[2]:>20} {cells[3]:>24}")


if __name__ == "__main__":
    main()
