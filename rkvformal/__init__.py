"""rkvformal: a formal checker for ResidentClaim lowerings onto KV-cache runtimes."""
