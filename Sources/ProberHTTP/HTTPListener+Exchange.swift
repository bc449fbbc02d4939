import Foundation

extension HTTPListener.Loop {
    /// Reads the request head; once whole (or too large) dispatches it (or answers 431).
    func read(_ connection: ClientConnection) {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { drop(connection); return }
            if n < 0 {
                if errno == EINTR { continue }
                if errno != EAGAIN && errno != EWOULDBLOCK { drop(connection) }
                return
            }
            let searchFrom = max(0, connection.input.count - 3)
            connection.input.append(contentsOf: chunk[0..<n])
            if takeHead(connection, searchingFrom: searchFrom) { return }
        }
    }

    /// Dispatches the head at the start of `input` if it is whole, or answers 431 if it is too large; false
    /// when more must be read first.
    private func takeHead(_ connection: ClientConnection, searchingFrom start: Int) -> Bool {
        if let end = ListenerRequest.headEnd(connection.input, from: start) {
            if end > configuration.maxHeaderBytes {
                respond(connection, ListenerResponse(status: 431, body: "request head larger than \(configuration.maxHeaderBytes) bytes\n"))
            } else {
                let head = Array(connection.input[0..<end])
                connection.input.removeFirst(end)
                dispatch(connection, head: head)
            }
            return true
        }
        if connection.input.count > configuration.maxHeaderBytes {
            respond(connection, ListenerResponse(status: 431, body: "request head larger than \(configuration.maxHeaderBytes) bytes\n"))
            return true
        }
        return false
    }

    /// Parses the head and hands it to the handler on `handlerQueue`; its answer comes back through `mailbox`.
    private func dispatch(_ connection: ClientConnection, head: [UInt8]) {
        connection.headOnly = false
        guard var parsed = ListenerRequest(head: head) else {
            respond(connection, ListenerResponse(status: 400, body: "malformed request\n"))
            return
        }
        parsed.client = connection.client
        let request = parsed
        guard request.version == "HTTP/1.1" || request.version == "HTTP/1.0" else {
            respond(connection, ListenerResponse(status: 505, body: "HTTP/1.x only\n"))
            return
        }
        connection.headOnly = request.method == "HEAD"
        // A body is never read, so what follows one is not a request: a request with a body is the last.
        connection.lastRequest = request.version != "HTTP/1.1"
            || request.header("Connection")?.lowercased().contains("close") == true
            || (request.header("Content-Length").map { $0 != "0" } ?? false)
            || request.header("Transfer-Encoding") != nil
            || connection.answered + 1 >= configuration.maxRequestsPerConnection
        connection.persistent = request.header("Connection")?.lowercased().contains("keep-alive") == true
        connection.phase = .awaitingResponse
        connection.deadline = Self.now() + Self.nanos(configuration.responseTimeout)
        let id = connection.id
        let handler = self.handler
        handlerQueue.async { [self] in
            handler(request) { response in
                let response = response.representation(for: request)
                self.mailbox.withLock { $0.append((id, response)) }
                self.wake()
            }
        }
    }

    /// Sends the answers handlers left in `mailbox` (those for connections still waiting for one).
    func deliverResponses() {
        let pending = mailbox.withLock { box -> [(id: UInt64, response: ListenerResponse)] in
            defer { box.removeAll() }
            return box
        }
        for (id, response) in pending {
            guard let connection = connections[id], connection.phase == .awaitingResponse else { continue }
            respond(connection, response, mayContinue: !connection.lastRequest)
        }
    }

    /// Starts sending `response`. Unless `mayContinue` (a handler's answer to a request that allows
    /// another) and the client pipelined another request or asked for keep-alive, it is the connection's
    /// last; so is one with a streamed body, which ends with the close.
    func respond(_ connection: ClientConnection, _ response: ListenerResponse, mayContinue: Bool = false) {
        connection.keepOpen = mayContinue && response.stream == nil && (readAhead(connection) || connection.persistent)
        connection.output = response.chunks(headOnly: connection.headOnly, close: !connection.keepOpen)
        connection.stream = connection.headOnly ? nil : response.stream
        connection.written = 0
        connection.phase = .writing
        connection.deadline = Self.now() + Self.nanos(configuration.writeTimeout)
        flush(connection)
    }

    /// Reads what the client has already sent after the request being answered (up to a head's worth);
    /// true when there is some: a pipelined request, to be answered once this response is sent.
    private func readAhead(_ connection: ClientConnection) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while connection.input.count <= configuration.maxHeaderBytes {
            let n = chunk.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                connection.input.append(contentsOf: chunk[0..<n])
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                break
            }
        }
        return !connection.input.isEmpty
    }

    /// Sends what the socket takes, pulling a streamed body's pieces as it goes; once all is sent, lingers.
    func flush(_ connection: ClientConnection) {
        while true {
            guard let chunk = connection.output.first else {
                guard let stream = connection.stream else { break }
                if let piece = stream.next() {
                    connection.output = [piece]
                    connection.written = 0
                } else {
                    connection.stream = nil
                }
                continue
            }
            guard connection.written < chunk.count else {
                connection.output.removeFirst()
                connection.written = 0
                continue
            }
            let n = chunk.withUnsafeBytes { raw in
                send(connection.fd, raw.baseAddress! + connection.written, raw.count - connection.written, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                if errno == EINTR { continue }
                if errno != EAGAIN && errno != EWOULDBLOCK { drop(connection) }
                return
            }
            connection.written += n
            connection.lastProgress = Self.now()
        }
        connection.output = []
        if connection.keepOpen {
            // Back to reading for the pipelined request, which may already be whole.
            let now = Self.now()
            connection.keepOpen = false
            connection.headOnly = false
            connection.answered += 1
            connection.phase = .reading
            connection.lastProgress = now
            connection.deadline = now + Self.nanos(configuration.readTimeout)
            _ = takeHead(connection, searchingFrom: 0)
            return
        }
        shutdown(connection.fd, Int32(SHUT_WR))
        connection.phase = .lingering
        connection.deadline = Self.now() + 2_000_000_000
        drain(connection)
    }

    /// Discards input until EOF (then closes).
    func drain(_ connection: ClientConnection) {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            drop(connection)
            return
        }
    }
}
