"""What a person runs: the smetslab command line, benchmarks and lab tools."""
