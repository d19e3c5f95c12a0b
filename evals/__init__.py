"""scheming-evals: measure whether LLM agents scheme, in real Docker sandboxes."""
