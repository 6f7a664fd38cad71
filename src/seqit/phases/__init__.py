"""The phases stage: `seqit score` (difficulty by a judge or a proxy) and `seqit split` (dedup, cuts, phase stats)."""
