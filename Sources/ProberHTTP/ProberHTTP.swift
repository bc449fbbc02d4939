/// A small HTTP/1.1 server for `prober run --listen`: sockets and parsing here, routes added by the caller.
enum ProberHTTP {}
