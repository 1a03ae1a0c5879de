"""Load runs and benchmarks (`make load`, `make bench`), and the process helpers the
scale-out and fault tests share with them."""
