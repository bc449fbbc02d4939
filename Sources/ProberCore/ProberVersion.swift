/// prober's version: the one place it is written (`prober --version`, the man page).
public let proberVersion = "0.4.0"
