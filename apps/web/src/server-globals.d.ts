/**
 * libs/protocol's binary schema fields turn bytes into Node Buffers. Those
 * transforms run only where requests are parsed (the services), never in
 * this page, whose bundle leaves them out; the page's typecheck still reads
 * them, so it is told the one name they use.
 */
declare const Buffer: {
  from(value: unknown, ...rest: unknown[]): Uint8Array & { toString(encoding?: string): string };
};
