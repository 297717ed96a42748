// The V8 heap setting `berth serve` gives its process, so that request bodies do not set off full collections.
import { setFlagsFromString } from 'node:v8';

/**
 * After a full (mark-compact) collection, the old generation may grow to this many percent more than what
 * survived it before the next one starts: 200, three times the live heap (V8's own factor ranges from 1.1 to 4,
 * and falls to its least after the process idles).
 *
 * Why: V8 counts the external memory allocated since the last full collection against the old generation's limit.
 * Node's HTTP parser copies each chunk of a request body into a new Buffer, and young buffers are freed only by a
 * scavenge, which V8 runs for each 32 MiB of them. Once V8's memory reducer had lowered the limit while berth idled
 * (to about 10 MiB above a 26 MiB live heap), each of those 32 MiB crossed it. A 1 GiB archive upload after 15 s of
 * idling then ran 37–49 full collections and took 3.6–4.3 s, with 4.5–5.2 s of CPU (the event loop and V8's four
 * helper threads); with this setting it ran 0–2 and took 2.8–3.2 s, with 2.8–3.2 s of CPU. Three times the live heap
 * leaves room for a scavenge's worth of body under the limit. Node 24 scavenges less during an upload: there the
 * setting halved the full collections (30–37 to 15–16 per GiB).
 */
export const HEAP_GROWING_PERCENT = 200;

const FLAG = '--heap-growing-percent';

/** The V8 flags to set in a process started with `execArgv`: none when its command line sets the growth itself. */
export function heapFlags(execArgv: readonly string[]): string[] {
  // V8 reads --heap_growing_percent the same
  const own = execArgv.some((a) => a.split('=')[0]!.replaceAll('_', '-') === FLAG);
  return own ? [] : [`${FLAG}=${HEAP_GROWING_PERCENT}`];
}

/** Sets heapFlags(process.execArgv) in this process (V8 reads this flag at each collection); returns them. */
export function tuneHeap(): string[] {
  const flags = heapFlags(process.execArgv);
  for (const f of flags) setFlagsFromString(f);
  return flags;
}
