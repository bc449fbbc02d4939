/// One accepted client socket and where its exchange stands; owned by the listener's thread.
final class ClientConnection {
    enum Phase {
        case reading
        case awaitingResponse
        case writing
        /// Response sent and write side shut: discard input until EOF so closing never resets the
        /// connection before the client has read the response.
        case lingering
    }

    let fd: Int32
    let id: UInt64
    /// The peer's IP address as text, read once at accept.
    let client: String
    var phase: Phase = .reading
    /// When the connection last moved: accepted, or a byte of its response taken by the client. At the
    /// connection cap, the one idle the longest gives way (see `HTTPListener.Loop.evictionCandidate`).
    var lastProgress: UInt64
    var deadline: UInt64
    /// Bytes received and not yet parsed: the head being read, then any requests pipelined after it.
    var input: [UInt8] = []
    /// Requests answered so far (more than one only when pipelined).
    var answered = 0
    /// The request being answered is the last: HTTP/1.0, `Connection: close`, a body (never read), or the
    /// per-connection cap.
    var lastRequest = true
    /// The client asked for a persistent connection (`Connection: keep-alive`, as browsers send): after a
    /// response that is not the last, the connection goes back to reading even with nothing pipelined, for up
    /// to `readTimeout` (then it is closed without a word). Clients that do not ask keep today's behaviour,
    /// one response and the close, so a client reading to EOF is never kept waiting.
    var persistent = false
    /// The response being written is followed by another (a pipelined request is already buffered), so it
    /// does not say `Connection: close` and the connection goes back to reading once it is sent.
    var keepOpen = false
    /// What is left to send, in order (see `ListenerResponse.chunks`).
    var output: [[UInt8]] = []
    /// Bytes of `output[0]` already sent.
    var written = 0
    /// The rest of a streamed body, pulled a piece at a time once `output` is sent.
    var stream: (any BodyStream)?
    var headOnly = false

    init(fd: Int32, id: UInt64, client: String, acceptedAt: UInt64, deadline: UInt64) {
        self.fd = fd
        self.id = id
        self.client = client
        lastProgress = acceptedAt
        self.deadline = deadline
    }
}
