/// The pages `prober run --listen` serves and `prober report` writes: server-rendered HTML with inline SVG.
public enum ProberWeb {}
