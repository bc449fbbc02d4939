/// prober's version: the one place it is written (`prober --version`, the man page, `prober_info` on `/metrics`).
public let proberVersion = "0.4.0"
