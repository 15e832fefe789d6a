/**
 * A JSON frame sent to many connections (a push): its UTF-8 bytes, and its
 * framing for each transport, made once for all of them rather than once
 * per connection. Transports fill their own slot the first time.
 */
export class SharedText {
  private utf8?: Buffer;
  /** The WebSocket text frame (header and payload), once built. */
  wsFrame?: Buffer;
  /** The TCP line (payload and newline), once built. */
  line?: Buffer;

  constructor(readonly text: string) {}

  bytes(): Buffer {
    return (this.utf8 ??= Buffer.from(this.text));
  }
}
