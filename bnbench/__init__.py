"""bnbench: does a training trick make a network better, faster or cheaper in energy, beyond seed luck?"""

from bnbench.version import __version__ as __version__


def __getattr__(name: str) -> object:
    """`bnbench.load(DIR)`: a results folder as DataFrames and a summary, imported only when first used."""
    if name == "load":
        from bnbench.analysis.results import load

        return load
    raise AttributeError(f"module 'bnbench' has no attribute '{name}'")
