/**
 * The numbering every server event carries (`seq`, per session, from 1, without gaps) and
 * what the SDK does with each event so that an application never sees a gap or a duplicate:
 *
 * - the next number of the session it has: `"apply"`;
 * - a number it has already seen (a replay that overlaps): `"drop"`;
 * - a number past the next one (something was missed): `"resync"`, and the event is not
 *   applied: the server sends it again, in order, after the missing ones;
 * - a `snapshot`: applied unless older than what the SDK has; it stands for every event up to
 *   its `seq`;
 * - the first event of another session (a new one opened after the last ended): applied,
 *   and the numbering starts over.
 */
export class EventSequence {
  constructor() {
    /** @type {number | null} */
    this.sessionId = null;
    this.lastSeq = 0;
  }

  /** What to do with one event; the numbering moves on when the answer is `"apply"`. */
  accept(name, data) {
    if (!data || typeof data !== "object" || !Number.isInteger(data.seq) || data.seq < 0) return "drop";
    const sameSession = data.session_id === this.sessionId;
    if (name === "snapshot") {
      if (sameSession && data.seq < this.lastSeq) return "drop";
      this._moveTo(data);
      return "apply";
    }
    if (!sameSession) {
      if (data.seq !== 1) {
        // Part of a session whose start the SDK has not seen: ask for it from its beginning.
        this.sessionId = null;
        this.lastSeq = 0;
        return "resync";
      }
      this._moveTo(data);
      return "apply";
    }
    if (data.seq <= this.lastSeq) return "drop";
    if (data.seq > this.lastSeq + 1) return "resync";
    this._moveTo(data);
    return "apply";
  }

  /** What a (re)connecting socket tells the server it has. */
  auth() {
    return this.sessionId === null ? { last_seq: 0 } : { session_id: this.sessionId, last_seq: this.lastSeq };
  }

  /** What a `resync` asks for. */
  resync() {
    return { last_seq: this.lastSeq };
  }

  _moveTo(data) {
    this.sessionId = data.session_id;
    this.lastSeq = data.seq;
  }
}

/**
 * The supervisors' numbering (`/monitor`): one stream of changes per account and web process,
 * named by the `floor` event that starts it (`stream`); every later event is the stream's
 * next `seq`. A `floor` replaces everything (a new stream, or one too old to replay); the
 * rest follows the same rules as {@link EventSequence}.
 */
export class FloorSequence {
  constructor() {
    /** @type {string | null} */
    this.stream = null;
    this.lastSeq = 0;
  }

  accept(name, data) {
    if (!data || typeof data !== "object" || !Number.isInteger(data.seq) || data.seq < 0) return "drop";
    if (name === "floor") {
      if (data.stream === this.stream && data.seq < this.lastSeq) return "drop";
      this.stream = data.stream ?? null;
      this.lastSeq = data.seq;
      return "apply";
    }
    if (this.stream === null) return "resync"; // changes without the floor they change
    if (data.seq <= this.lastSeq) return "drop";
    if (data.seq > this.lastSeq + 1) return "resync";
    this.lastSeq = data.seq;
    return "apply";
  }

  auth() {
    return this.stream === null ? { last_seq: 0 } : { stream: this.stream, last_seq: this.lastSeq };
  }

  resync() {
    return this.stream === null ? { last_seq: 0 } : { stream: this.stream, last_seq: this.lastSeq };
  }
}
