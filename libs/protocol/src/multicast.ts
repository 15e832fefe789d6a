/**
 * One push to many channels in one NATS message (architecture.md, "Subjects"
 * and "Channels"). A push to one channel travels on that channel's subject,
 * `colmena.push.<channel>`, and reaches only the gateways holding a member of
 * it; a push to several (a notification to 10,000 users) would cost one
 * message per channel through nats-server and every gateway. A multicast
 * carries the channel names and the event, encoded once, on
 * `colmena.push.multicast`, which every gateway receives; each delivers it to
 * its own connections in any of the named channels, once per connection.
 *
 * Payload: the channel names separated by single spaces (a channel is subject
 * tokens joined by dots, and no token holds whitespace), a newline, then the
 * event's data as the push's JSON. Headers as any push: `Colmena-Event`, and
 * `Colmena-Exclude-Conn` when set. A publisher sends at most
 * `MULTICAST_MAX_CHANNELS` names per message (and fewer when the message
 * would pass the server's max_payload): a larger audience is several
 * messages, each delivered on its own.
 */
/**
 * Channel names per multicast message. About 170 KiB of names for `user.<uuid>`
 * channels: a gateway splits and looks up a batch in well under a millisecond,
 * and a notification to 10,000 users is 3 messages instead of 10,000.
 */
export const MULTICAST_MAX_CHANNELS = 4096;

const SPACE = 0x20;
const NEWLINE = 0x0a;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Splits channels into multicast payloads around `data` (the event's JSON,
 * encoded once by the caller): at most `MULTICAST_MAX_CHANNELS` names each,
 * and at most `maxBytes` in all when one name fits beside the data.
 */
export function encodeMulticast(channels: readonly string[], data: Uint8Array, maxBytes = Infinity): Uint8Array[] {
  const out: Uint8Array[] = [];
  const names = channels.map((c) => encoder.encode(c));
  for (let i = 0; i < names.length; ) {
    let n = 0;
    let bytes = data.length + 1;
    while (i + n < names.length && n < MULTICAST_MAX_CHANNELS && (n === 0 || bytes + names[i + n].length + 1 <= maxBytes)) bytes += names[i + n++].length + 1;
    const buf = new Uint8Array(bytes - 1);
    let at = 0;
    for (let k = i; k < i + n; k++) {
      if (k > i) buf[at++] = SPACE;
      buf.set(names[k], at);
      at += names[k].length;
    }
    buf[at++] = NEWLINE;
    buf.set(data, at);
    out.push(buf);
    i += n;
  }
  return out;
}

/** The channel names and the data of a multicast payload; undefined when it has no newline (not a multicast). */
export function decodeMulticast(payload: Uint8Array): { channels: string[]; data: Uint8Array } | undefined {
  const nl = payload.indexOf(NEWLINE);
  if (nl < 0) return undefined;
  const names = decoder.decode(payload.subarray(0, nl));
  return { channels: names ? names.split(" ") : [], data: payload.subarray(nl + 1) };
}
