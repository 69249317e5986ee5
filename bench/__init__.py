"""`invoke bench`: what each hop adds to a call, measured against the direct call in one run."""
