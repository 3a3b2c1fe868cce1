"""bnbench: does a training trick make a network better, faster or cheaper in energy, beyond seed luck?"""

__version__ = "0.1.0"
