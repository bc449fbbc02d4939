import CCurl
import Foundation
import ProberCore
import Synchronization

/// Work handed to the engine thread from any thread.
final class Inbox: @unchecked Sendable { // Safe: every field is read and written under `lock`.
    private let lock = NSLock()
    private var items: [Work] = []
    /// Checks to start at their due time (`CurlEngine.schedule`), and ids of those to cancel.
    private var scheduled: [(checks: [ScheduledCheck], batches: BatchedCompletions)] = []
    private var cancels: [UInt64] = []
    private var stopping = false
    private var isEmpty: Bool { items.isEmpty && scheduled.isEmpty && cancels.isEmpty }

    /// What `post` did with the work.
    enum Posted {
        /// Taken into an empty inbox: the engine thread needs a wake-up.
        case first
        /// Taken behind others: the wake-up of the first is still to come, or the thread is draining now.
        case queued
        /// Not taken: the engine is stopping.
        case refused
    }

    func post(_ work: Work) -> Posted {
        lock.lock()
        defer { lock.unlock() }
        if stopping { return .refused }
        let first = isEmpty
        items.append(work)
        return first ? .first : .queued
    }

    func post(scheduling checks: [ScheduledCheck], batches: BatchedCompletions) -> Posted {
        lock.lock()
        defer { lock.unlock() }
        if stopping { return .refused }
        let first = isEmpty
        scheduled.append((checks, batches))
        return first ? .first : .queued
    }

    /// Taken even while stopping: the engine cancels every scheduled check then anyway.
    func post(cancelling ids: [UInt64]) -> Posted {
        lock.lock()
        defer { lock.unlock() }
        let first = isEmpty
        cancels.append(contentsOf: ids)
        return first ? .first : .queued
    }

    func stop() {
        lock.lock()
        stopping = true
        lock.unlock()
    }

    func drain(into pending: inout [Work], scheduling starts: inout DueHeap<ScheduledStart>, cancelling cancelled: inout [UInt64]) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if !items.isEmpty {
            pending.append(contentsOf: items)
            items.removeAll(keepingCapacity: true)
        }
        for (checks, batches) in scheduled {
            for check in checks { starts.push(ScheduledStart(check: check, batches: batches), due: Int64(check.due.uptimeNanoseconds)) }
        }
        scheduled.removeAll(keepingCapacity: true)
        if !cancels.isEmpty {
            cancelled.append(contentsOf: cancels)
            cancels.removeAll(keepingCapacity: true)
        }
        return stopping
    }
}

/// Which scheduled checks a turn of the engine loop starts: every one that is due, and, of those not yet due but
/// within their `ScheduledCheck.earlyStart`, at most `perTurn`. Checks started together save wake-ups (their
/// responses come back together too), but the transfers in flight wait meanwhile: their responses are read, and
/// timed, after libcurl has opened every new connection, so a turn opens a bounded number early.
struct EarlyStartBudget {
    static let perTurn = 64
    private(set) var left = 0

    mutating func newTurn() { left = Self.perTurn }

    /// Whether the check due at `due`, allowed to start `window` before it, starts at `now` (times in ns); one
    /// started early counts against the turn.
    mutating func admits(due: Int64, window: Int64, now: Int64) -> Bool {
        if due <= now { return true }
        guard due - window <= now, left > 0 else { return false }
        left -= 1
        return true
    }
}

/// The engine thread's state: the multi handle, every transfer in flight, and those waiting for a slot.
/// Everything here is touched by the engine thread only.
final class EngineLoop: @unchecked Sendable { // Handed to the engine thread once at start, then used only there.
    let multi: CurlMulti
    let inbox: Inbox
    let maxConcurrent: Int
    /// "Now" for `Sample.startedAt` and certificate ages.
    let clock: any WallClock
    /// Every probe's connection is bound to it (`--source-address`); the outbox's requests are not.
    let sourceAddress: SourceAddress?
    private var active: [UnsafeMutableRawPointer: Transfer] = [:]
    private var pending: [Work] = []
    private var pendingHead = 0
    /// Scheduled checks not yet due, and ids to cancel that came with the last drain.
    private var starts = DueHeap<ScheduledStart>()
    /// How many more checks this turn of the loop may start before their due time.
    private var earlyStarts = EarlyStartBudget()
    private var cancelling: [UInt64] = []
    /// Reset easy handles kept for reuse (a handle is not a connection: FORBID_REUSE still applies).
    private var pool: [CurlEasy] = []
    /// TCP probes past connect, waiting on their socket.
    private var sessions: [Transfer] = []
    private var waitFDs: [curl_waitfd] = []
    /// Evaluates `body_matches` off this thread.
    private let bodyMatcher = BodyMatcher()
    /// Finished checks not handed over yet, by the `BatchedCompletions` they go to (nearly always one: the
    /// scheduler's), with when the first of them finished: handed over together before the loop waits again, or,
    /// for an owner that gathers (`BatchedCompletions.gathering`), once the first has waited that long.
    private var finishedThisTurn: [(batches: BatchedCompletions, since: UInt64, checks: [BatchedCompletions.Finished])] = []
    /// The size of the last batch handed over: a new batch reserves room for as many. Grown one append at a time, a
    /// batch of 32 was allocated six times and copied five (a `Finished` holds a whole `Sample`).
    private var lastBatchCount = 0

    init(multi: CurlMulti, inbox: Inbox, maxConcurrent: Int, clock: any WallClock, sourceAddress: SourceAddress?) {
        self.multi = multi
        self.inbox = inbox
        self.maxConcurrent = max(1, maxConcurrent)
        self.clock = clock
        self.sourceAddress = sourceAddress
    }

    /// Runs until stopped and every accepted transfer has finished.
    func run() {
        var running: Int32 = 0
        while true {
            earlyStarts.newTurn()
            let stopping = inbox.drain(into: &pending, scheduling: &starts, cancelling: &cancelling)
            cancelScheduled(all: stopping)
            startDue()
            startPending()
            curl_multi_perform(multi.handle, &running)
            collectDone()
            startDue() // slots freed by finished transfers
            startPending()
            handOverFinished(all: stopping)
            if stopping && active.isEmpty && pendingHead == pending.count && starts.isEmpty { break }
            let timeout = min(sessionsTimeout(), dueTimeout(), gatheredTimeout())
            waitFDs.removeAll(keepingCapacity: true)
            for t in sessions { waitFDs.append(curl_waitfd(fd: t.tcp!.socket, events: t.tcpWantsWrite ? Int16(CURL_WAIT_POLLOUT) : Int16(CURL_WAIT_POLLIN), revents: 0)) }
            let polled = sessions
            waitFDs.withUnsafeMutableBufferPointer { fds in
                _ = curl_multi_poll(multi.handle, fds.baseAddress, UInt32(fds.count), Int32(timeout), nil)
            }
            for (i, t) in polled.enumerated() where waitFDs[i].revents != 0 { advanceSession(t) }
            expireSessions()
        }
        for t in sessions {
            t.tcp?.failure = Failure(.other, "probe engine stopped")
            finish(t, code: CURLE_OK)
        }
        handOverFinished(all: true)
        pool.removeAll()
    }

    // MARK: Starting

    /// Starts every scheduled check that is due, and those due within their `earlyStart` that the turn's
    /// `EarlyStartBudget` admits, while slots are free; each measures its lateness as it starts. The loop waits for
    /// the first check's due time (`dueTimeout`), so the checks started early are those due just after something
    /// woke it.
    private func startDue() {
        guard !starts.isEmpty else { return }
        var now = Int64(DispatchTime.now().uptimeNanoseconds)
        while active.count < maxConcurrent, let due = starts.firstDue, let early = starts.first({ $0.earlyNanos }),
              earlyStarts.admits(due: due, window: early, now: now), let item = starts.removeFirst() {
            let spec = item.check.spec, answer = item.check.completion
            let lateness = max(0, now - due) / 1_000
            start(.probe(spec, ProbeCompletion(secrets: spec.secrets, completion: { answer(.ran($0, lateness: lateness)) },
                                               batches: item.batches)))
            now = Int64(DispatchTime.now().uptimeNanoseconds)
        }
    }

    /// Milliseconds until the next scheduled check is due (rounded up, so it is due when the wait ends); 1 s when
    /// none is, or when no slot is free for it (a finished transfer wakes the loop then).
    private func dueTimeout() -> Int {
        guard active.count < maxConcurrent, let due = starts.firstDue else { return 1_000 }
        let now = Int64(DispatchTime.now().uptimeNanoseconds)
        guard due > now else { return 0 }
        return Int(min(1_000, (due - now + 999_999) / 1_000_000))
    }

    /// Answers `.cancelled` for the scheduled checks whose cancel came in, or for all of them when stopping.
    private func cancelScheduled(all: Bool) {
        guard all || !cancelling.isEmpty, !starts.isEmpty else {
            cancelling.removeAll(keepingCapacity: true)
            return
        }
        let ids = Set(cancelling)
        cancelling.removeAll(keepingCapacity: true)
        let removed = starts.removeAll { all || ids.contains($0.check.id) }
        // One batch per owner, in due order.
        var byOwner: [(batches: BatchedCompletions, checks: [ScheduledCheck])] = []
        for (_, item) in removed.sorted(by: { $0.due < $1.due }) {
            if let i = byOwner.firstIndex(where: { $0.batches === item.batches }) {
                byOwner[i].checks.append(item.check)
            } else {
                byOwner.append((item.batches, [item.check]))
            }
        }
        for (batches, checks) in byOwner { ScheduledCheck.cancel(checks, to: batches) }
    }

    private func startPending() {
        while active.count < maxConcurrent, pendingHead < pending.count {
            let work = pending[pendingHead]
            pendingHead += 1
            start(work)
        }
        if pendingHead == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingHead = 0
        } else if pendingHead > 4096 {
            pending.removeFirst(pendingHead)
            pendingHead = 0
        }
    }

    private func start(_ work: Work) {
        guard let easy = pool.popLast() ?? CurlEasy() else {
            complete(work, failure: Failure(.other, "libcurl could not create a handle"))
            return
        }
        let t: Transfer
        switch work {
        case .probe(let spec, _):
            switch spec.target {
            case .http(let http):
                // The body is kept only for an expectation that reads it; the rest count its bytes alone.
                let readsBody = http.expect.bodyContains != nil || http.expect.bodyMatches != nil
                t = Transfer(work: work, easy: easy, bodyLimit: readsBody ? max(http.maxBodyBytes, 0) : 0, timeout: spec.timeout,
                             startedAt: clock.now())
                let body = http.body.map { Array($0.utf8) }
                t.configureHTTP(url: http.url, method: http.method, headers: http.headers, body: body, timeout: spec.timeout,
                                followRedirects: http.followRedirects, maxRedirects: http.maxRedirects, ip: http.ip, tls: http.tls,
                                certificateInfo: isHTTPS(http.url), collectHeaders: !http.expect.headers.isEmpty)
                if let sourceAddress {
                    // Through a proxy, the connection goes to the proxy, not the URL's host.
                    let host = URLComponents(string: http.proxy ?? http.url)?.host ?? ""
                    if let problem = sourceAddress.unreachable(host: host, ip: http.ip) { return refuse(t, Failure(.connect, problem)) }
                    t.bind(to: sourceAddress, ip: http.ip)
                }
            case .tcp(let tcp):
                t = Transfer(work: work, easy: easy, bodyLimit: 0, timeout: spec.timeout, startedAt: clock.now())
                t.configureTCP(tcp, timeout: spec.timeout)
                if let sourceAddress {
                    if let problem = sourceAddress.unreachable(host: tcp.host, ip: tcp.ip) { return refuse(t, Failure(.connect, problem)) }
                    t.bind(to: sourceAddress, ip: tcp.ip)
                }
            }
        case .request(let request, _):
            t = Transfer(work: work, easy: easy, bodyLimit: HTTPResponse.maxBodyBytes, timeout: request.timeout, startedAt: clock.now())
            t.configureHTTP(url: request.url, method: request.method, headers: request.headers, body: request.body,
                            timeout: request.timeout, followRedirects: false, maxRedirects: 0, ip: .any, tls: TLSOptions(),
                            certificateInfo: false, collectHeaders: true)
        }
        let rc = curl_multi_add_handle(multi.handle, easy.handle)
        guard rc == CURLM_OK else {
            complete(work, failure: Failure(.other, String(cString: curl_multi_strerror(rc))))
            return
        }
        active[easy.handle] = t
    }

    /// Ends a transfer that was never added to the multi handle with `failure`.
    private func refuse(_ t: Transfer, _ failure: Failure) {
        t.easy.reset()
        if pool.count < maxConcurrent { pool.append(t.easy) }
        complete(t.work, failure: failure)
    }

    // MARK: Finishing

    private func collectDone() {
        var left: Int32 = 0
        while let msg = curl_multi_info_read(multi.handle, &left) {
            guard msg.pointee.msg == CURLMSG_DONE, let handle = msg.pointee.easy_handle, let t = active[handle] else { continue }
            let code = msg.pointee.data.result
            if code == CURLE_OK, case .probe(let spec, _) = t.work, case .tcp(let tcp) = spec.target,
               tcp.send != nil || tcp.expect != nil {
                beginSession(t, tcp)
            } else {
                finish(t, code: code)
            }
        }
    }

    /// Ends a transfer: reads what libcurl measured, frees the slot, calls the completion.
    private func finish(_ t: Transfer, code: CURLcode) {
        switch t.work {
        case .probe(let spec, let completion):
            let sample: Sample
            switch spec.target {
            case .http(let http):
                sample = httpSample(t, spec: spec, http: http, code: code)
                if sample.failure == nil, let pattern = http.expect.bodyMatches {
                    let body = t.body, scope = bodyScope(t), deadline = t.deadline
                    release(t)
                    bodyMatcher.check(sample, body: body, pattern: pattern, scope: scope, deadline: deadline,
                                      timeout: spec.timeout, completion: completion.alone)
                    return
                }
            case .tcp: sample = tcpSample(t, spec: spec, code: code)
            }
            release(t)
            hand(sample, to: completion)
        case .request(_, let completion):
            let status = t.easy.long(CURLINFO_RESPONSE_CODE)
            let response = HTTPResponse(
                status: status > 0 ? status : nil, headers: t.headers, body: t.body,
                error: code == CURLE_OK ? nil : t.easy.errorText(code), errorCode: code == CURLE_OK ? nil : Int(code.rawValue),
                requestSent: t.easy.offset(CURLINFO_PRETRANSFER_TIME_T) > 0)
            release(t)
            completion(response)
        }
    }

    private func release(_ t: Transfer) {
        curl_multi_remove_handle(multi.handle, t.easy.handle)
        active[t.easy.handle] = nil
        if let i = sessions.firstIndex(where: { $0 === t }) { sessions.remove(at: i) }
        t.easy.reset()
        if pool.count < maxConcurrent { pool.append(t.easy) }
    }

    private func complete(_ work: Work, failure: Failure) {
        switch work {
        case .probe(let spec, let completion):
            hand(Sample(probe: spec.name, startedAt: clock.now(), failure: failure), to: completion)
        case .request(_, let completion):
            completion(HTTPResponse(status: nil, headers: [], body: [], error: failure.message, errorCode: nil, requestSent: false))
        }
    }

    /// Gives a finished check's sample to its completion: now, or with the turn's batch.
    private func hand(_ sample: Sample, to completion: ProbeCompletion) {
        guard let batches = completion.batches else { return completion.alone(sample) }
        let finished = BatchedCompletions.Finished(sample: sample.hiding(completion.secrets), completion: completion.completion)
        if let i = finishedThisTurn.firstIndex(where: { $0.batches === batches }) {
            finishedThisTurn[i].checks.append(finished)
        } else {
            var checks: [BatchedCompletions.Finished] = []
            checks.reserveCapacity(max(lastBatchCount, 1))
            checks.append(finished)
            finishedThisTurn.append((batches, DispatchTime.now().uptimeNanoseconds, checks))
        }
    }

    /// Hands the finished checks over, one batch per owner: every owner's with `all`, else those of owners that do
    /// not gather and of those whose first check has waited its `gathering`.
    private func handOverFinished(all: Bool = false) {
        guard !finishedThisTurn.isEmpty else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        var ready: [(batches: BatchedCompletions, checks: [BatchedCompletions.Finished])] = []
        finishedThisTurn.removeAll { owner in
            guard all || owner.since + owner.batches.gatheringNanos.load(ordering: .relaxed) <= now else { return false }
            ready.append((owner.batches, owner.checks))
            return true
        }
        for (batches, checks) in ready {
            lastBatchCount = checks.count
            batches.deliver(checks)
        }
    }

    /// Milliseconds until a gathering owner's batch is due (rounded up); 1 s when none waits.
    private func gatheredTimeout() -> Int {
        guard !finishedThisTurn.isEmpty else { return 1_000 }
        var due = UInt64.max
        for owner in finishedThisTurn { due = min(due, owner.since + owner.batches.gatheringNanos.load(ordering: .relaxed)) }
        let now = DispatchTime.now().uptimeNanoseconds
        return due <= now ? 0 : Int(min(1_000, (due - now + 999_999) / 1_000_000))
    }

    // MARK: HTTP samples

    private func httpSample(_ t: Transfer, spec: ProbeSpec, http: HTTPTarget, code: CURLcode) -> Sample {
        let e = t.easy
        let isTLS = e.schemeIsHTTPS ?? isHTTPS(http.url)
        let (address, family) = t.remote()
        let status = e.long(CURLINFO_RESPONSE_CODE)
        var sample = Sample(probe: spec.name, startedAt: t.startedAt, phases: t.phases(tls: isTLS),
                            status: status > 0 ? status : nil, bytes: t.bytes, httpVersion: httpVersion(e.long(CURLINFO_HTTP_VERSION)),
                            remoteAddress: address, ipFamily: family)
        if isTLS {
            let (leaf, earliest) = t.certificateExpiry()
            sample.certificateExpiry = leaf
            sample.chainEarliestExpiry = earliest
        }
        sample.failure = code == CURLE_OK ? expectationFailure(t, http: http, sample: sample) : t.failure(code)
        return sample
    }

    private func expectationFailure(_ t: Transfer, http: HTTPTarget, sample: Sample) -> Failure? {
        let expect = http.expect
        let status = sample.status ?? 0
        if !expect.status.contains(status) {
            return Failure(.httpStatus, "expected \(expect.status), got \(status)")
        }
        for want in expect.headers {
            let name = want.name.lowercased()
            let got = t.headers.filter { $0.name.lowercased() == name }
            if got.isEmpty { return Failure(.headerMismatch, "header \(want.name) missing") }
            if !got.contains(where: { $0.value.contains(want.value) }) {
                return Failure(.headerMismatch, "header \(want.name) is \"\(excerpt(Array(got[0].value.utf8)))\", expected it to contain \"\(want.value)\"")
            }
        }
        if let needle = expect.bodyContains, !bytesContain(t.body, Array(needle.utf8)) {
            return Failure(.bodyMismatch, "body does not contain \"\(excerpt(Array(needle.utf8)))\"" + bodyScope(t))
        }
        if let validFor = expect.certificateValidFor {
            let expiries = [sample.certificateExpiry, sample.chainEarliestExpiry].compactMap { $0 }
            if let soonest = expiries.min() {
                let left = soonest - clock.now() / 1_000_000
                if left < validFor.microseconds / 1_000_000 {
                    return Failure(.certificateExpiring, certificateExpiryPhrase(secondsLeft: left))
                }
            } else if isHTTPS(http.url) {
                return Failure(.tls, "no certificate information to check certificate_valid_for")
            }
        }
        // body_matches comes last, on the BodyMatcher's queue.
        return nil
    }

    private func bodyScope(_ t: Transfer) -> String {
        Int64(t.body.count) < t.bytes ? " (first \(t.body.count) of \(t.bytes) bytes checked)" : ""
    }

    private func httpVersion(_ v: Int) -> String? {
        switch v {
        case Int(CURL_HTTP_VERSION_1_0): "1.0"
        case Int(CURL_HTTP_VERSION_1_1): "1.1"
        case Int(CURL_HTTP_VERSION_2_0): "2"
        case Int(CURL_HTTP_VERSION_3): "3"
        default: nil
        }
    }

    // MARK: TCP

    private func beginSession(_ t: Transfer, _ tcp: TCPTarget) {
        var socket = prober_socket_bad()
        guard prober_easy_getinfo_socket(t.easy.handle, &socket) == CURLE_OK, socket != prober_socket_bad() else {
            release(t)
            complete(t.work, failure: Failure(.other, "libcurl gave no socket for the connection"))
            return
        }
        t.tcp = TCPSession(socket: socket, send: tcp.send, expect: tcp.expect, connectedAt: monotonicMicros())
        sessions.append(t)
        advanceSession(t)
    }

    private func advanceSession(_ t: Transfer) {
        guard let session = t.tcp else { return }
        switch session.advance(t.easy, deadline: t.deadline) {
        case .waitWritable: t.tcpWantsWrite = true
        case .waitReadable: t.tcpWantsWrite = false
        case .expired:
            guard case .probe(let spec, _) = t.work else { return }
            session.failure = session.timedOut(after: spec.timeout)
            finish(t, code: CURLE_OK)
        case .done(let failure):
            session.failure = failure
            finish(t, code: CURLE_OK)
        }
    }

    private func expireSessions() {
        guard !sessions.isEmpty else { return }
        let now = monotonicMicros()
        for t in sessions where now >= t.deadline {
            guard case .probe(let spec, _) = t.work else { continue }
            t.tcp!.failure = t.tcp!.timedOut(after: spec.timeout)
            finish(t, code: CURLE_OK)
        }
    }

    /// Milliseconds until the nearest TCP session deadline (curl_multi_poll already caps the wait by
    /// libcurl's own timers); at most one second so a missed wakeup costs little.
    private func sessionsTimeout() -> Int {
        guard let nearest = sessions.map(\.deadline).min() else { return 1_000 }
        return Int(max(0, min(1_000_000, nearest - monotonicMicros()) + 999) / 1_000)
    }

    private func tcpSample(_ t: Transfer, spec: ProbeSpec, code: CURLcode) -> Sample {
        var phases = t.phases(tls: false)
        phases.processing = nil
        phases.transfer = nil
        phases.total = monotonicMicros() - t.startMono
        if let s = t.tcp, let first = s.firstByteAt {
            phases.processing = first - (s.sentAt ?? s.connectedAt)
        }
        let (address, family) = t.remote()
        let failure = code == CURLE_OK ? t.tcp?.failure : t.failure(code)
        return Sample(probe: spec.name, startedAt: t.startedAt, failure: failure, phases: phases,
                      remoteAddress: address, ipFamily: family)
    }
}
