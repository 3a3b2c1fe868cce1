"""`bnbench doctor`: checks that this machine measures what bnbench says it measures.

Every check goes through the code a run uses (the same meters, the same GPU identity, the same sampler, the
same `bnbench run`), never a copy of it: if the doctor and a run could disagree about which GPU is which, that
is the bug the doctor is for.
"""
