// Server-sent events over a fetch() body (POST requests cannot use EventSource).
// Follows the WHATWG framing: "field: value" lines, events end at a blank line, lines end in
// CRLF, LF or CR, lines starting with ":" are comments, several data lines join with "\n".

/** Yields {event, data, id} for each complete event in a ReadableStream of bytes. */
export async function* readEvents(stream, { signal } = {}) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new EventParser();
  const onAbort = () => reader.cancel().catch(() => {});
  signal?.addEventListener("abort", onAbort);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        yield* parser.push("", true);
        return;
      }
      yield* parser.push(value, false);
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
    reader.releaseLock();
  }
}

export class EventParser {
  constructor() {
    this.buffer = "";
    this.reset();
  }

  reset() {
    this.event = "";
    this.data = [];
    this.id = undefined;
  }

  /** Feeds text; returns the events it completes. `final` flushes what is left. */
  *push(text, final) {
    this.buffer += text;
    const lineEnd = /\r\n|\r|\n/g;
    let start = 0;
    let match;
    while ((match = lineEnd.exec(this.buffer)) !== null) {
      // a CR at the very end may be the first half of a CRLF split across chunks
      if (match[0] === "\r" && match.index === this.buffer.length - 1 && !final) break;
      const event = this.line(this.buffer.slice(start, match.index));
      if (event) yield event;
      start = lineEnd.lastIndex;
    }
    this.buffer = this.buffer.slice(start);
    if (final) {
      if (this.buffer) {
        const event = this.line(this.buffer);
        this.buffer = "";
        if (event) yield event;
      }
      // a stream that ends without the final blank line still delivers its last event
      const last = this.line("");
      if (last) yield last;
    }
  }

  line(line) {
    if (line === "") {
      if (!this.data.length) {
        this.reset();
        return null;
      }
      const event = { event: this.event || "message", data: this.data.join("\n"), id: this.id };
      this.reset();
      return event;
    }
    if (line.startsWith(":")) return null;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.event = value;
    else if (field === "data") this.data.push(value);
    else if (field === "id") this.id = value;
    return null;
  }
}
