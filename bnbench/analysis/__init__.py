"""Analysis: the numbers of a results folder, from its files alone: per-run figures, statistics, verdicts,
adaptive-seed decisions and plans. No drawing and no files written: that is bnbench.rendering."""
